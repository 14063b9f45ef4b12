"""``python -m symgrad`` is the ``symgrad`` command."""
from .cli import main

main(prog_name="symgrad")
