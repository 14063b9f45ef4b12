"""Printers: one expression tree, four languages (spec text, LaTeX, index notation, torch).

Each printer dispatches on the SymPy class (`_print_<Class>`); the op table supplies each
op's spelling through the op's ``text``/``latex``/``index``/``torch`` methods.
"""
from .text import to_text
from .latex import to_latex
from .index import to_index_latex, index_letters
from .torchcode import to_torch
