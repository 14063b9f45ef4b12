"""Stage 5, the numbers: PyTorch's own meaning of the spec's text (`reference`) and the check
of every compiled closed form against ``torch.autograd`` and finite differences (`check`).

torch is imported here and in the generated code only; ``--no-check`` never imports it.
"""
