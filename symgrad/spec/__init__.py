"""Stage 1, the spec: YAML text -> a validated `Problem` (`load`), expressions of the spec
language -> SymPy (`parse`), and the ``backward`` schedule's steps (`steps`).

Nothing of a spec is ever executed: YAML is composed, never constructed; expressions are
read by an `ast` whitelist.  Every mistake is a located `SpecError`.
"""
