"""Stage 4, code generation: closed forms -> a self-contained torch module.

`plan` decides the statements (forward reuse, shared subexpressions with readable names),
`lower` prints each one as torch code (fused kernels, masks, constants), `module` writes the
file and loads it.  The generated code never calls autograd.
"""
