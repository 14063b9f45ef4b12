"""Stage 6, PyTorch's autograd semantics: the graph PyTorch records for the spec's text
(`recorded`), the ``backward`` schedule predicted symbolically (`schedule`), and the same
schedule run for real in PyTorch and compared (`proof`).
"""
