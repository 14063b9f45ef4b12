"""Stage 7, the notes: a `Derivation` as lecture notes (Markdown, LaTeX, PDF).

`content` builds the notes once as format-neutral data -- the sweep step by step (`sweep`),
the autograd lessons (`autograd`) -- with `text` and `latex` for sentences and formulas;
`render` lays them out through the jinja2 templates and builds the PDF.
"""
