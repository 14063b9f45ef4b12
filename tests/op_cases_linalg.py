"""Op cases of the solves, factorisations, matrix functions and products (issue 13).

Well conditioned by construction: ``spd`` inputs for solve, cholesky, slogdet and the
eigen-decompositions (m m^T + n I: distinct eigenvalues in practice); batches, vector
right-hand sides and broadcasting where PyTorch allows them; cases placed on PyTorch's
conventions (a non-symmetric input read by one triangle, coinciding points in cdist).
The first case of each function is its canonical call (tests/test_schedule_ops.py).
"""
R, SPD = "real", "spd"

CASES = {
    "solve": [
        ("solve(A, B)", {"A": ([3, 3], SPD), "B": ([3, 2], R)}),
        ("solve(A, b)", {"A": ([3, 3], SPD), "b": ([3], R)}),
        ("solve(A, B)", {"A": ([2, 3, 3], SPD), "B": ([3, 2], R)}),
        ("solve(A, b)", {"A": ([2, 3, 3], SPD), "b": ([2, 3], R)}),
        ("solve(A, b)", {"A": ([2, 3, 3], SPD), "b": ([3], R)}),
        ("sum(solve(A, B))", {"A": ([3, 3], SPD), "B": ([3, 4], R)}),
        ("solve(A, B, left=False)", {"A": ([3, 3], SPD), "B": ([2, 3], R)}),
        ("solve(cA, B)", {"cA": ([3, 3], SPD), "B": ([3, 2], R)}),
        ("solve(A, cB)", {"A": ([3, 3], SPD), "cB": ([3, 2], R)}),
        ("solve(A, B)", {"A": ([3, 3], SPD), "B": ([2, 3, 4], R)}),
    ],
    "cholesky": [
        ("cholesky(A)", {"A": ([3, 3], SPD)}),
        ("sum(cholesky(A))", {"A": ([4, 4], SPD)}),
        ("cholesky(A, upper=True)", {"A": ([3, 3], SPD)}),
        ("cholesky(A)", {"A": ([2, 3, 3], SPD)}),
        # only the lower triangle is read, yet the gradient is symmetric (OPS.md item 15)
        ("sum(cholesky(A))", {"A": ([2, 2], R, [[4.0, 100.0], [2.0, 3.0]])}),
    ],
    "slogdet": [
        ("slogdet(A)", {"A": ([3, 3], R)}),
        ("slogdet(A)", {"A": ([3, 3], SPD)}),
        ("slogdet(A)", {"A": ([2, 3, 3], SPD)}),
        ("A.slogdet() * 2", {"A": ([2, 2], R, [[1.0, 2.0], [3.0, 1.0]])}),     # det < 0
    ],
    "matrix_power": [
        ("matrix_power(A, 3)", {"A": ([3, 3], R)}),
        ("A.matrix_power(2)", {"A": ([3, 3], R)}),
        ("matrix_power(A, 5)", {"A": ([3, 3], R)}),
        ("matrix_power(A, 1000)", {"A": ([3, 3], SPD, [[0.5, 0.1, 0.0], [0.1, 0.4, 0.1], [0.0, 0.1, 0.3]])}),
        ("matrix_power(A, -7)", {"A": ([2, 3, 3], SPD)}),
        ("matrix_power(A, -2)", {"A": ([3, 3], SPD)}),
        ("matrix_power(A, -1)", {"A": ([3, 3], SPD)}),
        ("matrix_power(A, 1)", {"A": ([3, 3], R)}),
        ("matrix_power(A, 0) + A", {"A": ([3, 3], R)}),
        ("matrix_power(A, 3)", {"A": ([2, 3, 3], R)}),
        ("matrix_power(A, -2)", {"A": ([2, 3, 3], SPD)}),
    ],
    "pinv": [
        ("pinv(A)", {"A": ([3, 4], R)}),
        ("pinv(A)", {"A": ([4, 2], R)}),
        ("pinv(A)", {"A": ([3, 3], SPD)}),
        ("pinv(A)", {"A": ([2, 3, 4], R)}),
        ("sum(pinv(A))", {"A": ([2, 3], R)}),
    ],
    "eigvalsh": [
        ("eigvalsh(A)", {"A": ([3, 3], SPD)}),
        ("eigvalsh(A)", {"A": ([2, 4, 4], SPD)}),
        ("sum(eigvalsh(A))", {"A": ([3, 3], SPD)}),
        ("sum(eigvalsh(A))", {"A": ([2, 3, 3], SPD)}),
        ("eigvalsh(A, UPLO='U')", {"A": ([3, 3], SPD)}),
        # only the lower triangle is read, yet the gradient is symmetric (OPS.md item 15)
        ("eigvalsh(A) * c", {"A": ([2, 2], R, [[2.0, 100.0], [1.0, 3.0]]), "c": ([2], R)}),
    ],
    "eigh": [
        ("eigh(A).eigenvectors", {"A": ([3, 3], SPD)}),
        ("eigh(A).eigenvalues", {"A": ([3, 3], SPD)}),
        ("eigh(A, UPLO='U').eigenvectors * c", {"A": ([2, 3, 3], SPD), "c": ([3], R)}),
        ("eigh(A).eigenvectors @ eigh(A).eigenvalues", {"A": ([4, 4], SPD)}),
        ("sum(eigh(A).eigenvectors**2) + sum(A)", {"A": ([3, 3], SPD)}),          # V^T G symmetric: no gradient
    ],
    "matrix_exp": [
        ("matrix_exp(A)", {"A": ([3, 3], R)}),
        ("sum(matrix_exp(A))", {"A": ([2, 2], R)}),
        ("matrix_exp(A)", {"A": ([2, 3, 3], R)}),
        ("matrix_exp(A * c)", {"A": ([3, 3], R), "c": ([], R)}),
    ],
    "kron": [
        ("kron(a, b)", {"a": ([2, 3], R), "b": ([4, 5], R)}),
        ("kron(a, b)", {"a": ([2], R), "b": ([3], R)}),
        ("kron(a, b)", {"a": ([2, 3], R), "b": ([4], R)}),
        ("kron(a, b)", {"a": ([3], R), "b": ([2, 2, 4], R)}),
        ("sum(kron(a, b))", {"a": ([2, 3], R), "b": ([2, 2], R)}),
        ("kron(c, b)", {"c": ([2, 2], R), "b": ([3, 1], R)}),
        ("a.kron(c)", {"a": ([2, 1], R), "c": ([1, 3], R)}),
        ("kron(a.T, b)", {"a": ([3, 2], R), "b": ([2, 2], R)}),          # torch.kron needs contiguous operands
    ],
    "cross": [
        ("cross(a, b)", {"a": ([4, 3], R), "b": ([4, 3], R)}),
        ("cross(a, b, dim=0)", {"a": ([3, 4], R), "b": ([3, 1], R)}),
        ("a.cross(b)", {"a": ([3], R), "b": ([3], R)}),
        ("cross(a, b)", {"a": ([3, 3], R), "b": ([3, 3], R)}),          # dim=None: the first of size 3
        ("cross(a, c, -1)", {"a": ([2, 1, 3], R), "c": ([1, 4, 3], R)}),
    ],
    "cdist": [
        ("cdist(a, b)", {"a": ([3, 2], R), "b": ([4, 2], R)}),
        ("cdist(a, b, p=1.0)", {"a": ([3, 2], R), "b": ([4, 2], R)}),
        ("cdist(a, b, p=3)", {"a": ([3, 2], R), "b": ([2, 2], R)}),
        ("cdist(a, b, p=0.5)", {"a": ([3, 2], R), "b": ([2, 2], R)}),
        ("cdist(a, b)", {"a": ([2, 3, 2], R), "b": ([4, 2], R)}),
        ("cdist(a, b)", {"a": ([30, 2], R), "b": ([4, 2], R)}),
        ("sum(cdist(a, c))", {"a": ([3, 2], R), "c": ([4, 2], R)}),
        # coinciding points pass no gradient (OPS.md item 6), for p = 2 and p = 1
        ("cdist(a, b)", {"a": ([2, 2], R, [[0.0, 0.0], [1.0, 1.0]]), "b": ([2, 2], R, [[0.0, 0.0], [3.0, 5.0]])}),
        ("cdist(a, b, p=1.0)", {"a": ([2, 2], R, [[0.0, 0.0], [1.0, 1.0]]), "b": ([2, 2], R, [[0.0, 0.0], [3.0, 5.0]])}),
        ("cdist(a, b, p=0)", {"a": ([3, 2], R), "b": ([2, 2], R)}),
    ],
    "pad": [
        ("pad(x, (1, 2))", {"x": ([2, 3], R)}),
        ("pad(x, (-1, 0, 1, 1))", {"x": ([3, 4], R)}),
        ("pad(x, (2, 0), value=0.5) * x.sum()", {"x": ([2, 2], R)}),
    ],
    "tril": [
        ("tril(x)", {"x": ([3, 4], R)}),
        ("tril(x, -1) @ x", {"x": ([3, 3], R)}),
    ],
}
