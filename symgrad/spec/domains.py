"""A given ``value`` against its declared ``domain``: positive, nonnegative, unit, spd, simplex.

A value outside its domain is a located spec error naming the input, never a failed check
that blames the closed form.
"""
import math


def outside(domain, value):
    """None when a value (nested lists of floats) lies in its domain, else what is wrong:
    a text that follows "value of 'a'", e.g. "[1] is -0.5"."""
    ok = _ENTRY_OK.get(domain)
    if ok is not None:
        bad = _first_entry(value, ok, "")
        if bad is not None:
            return "%s is %r" % bad
    if domain == "simplex":
        return _first_row(value, "")
    if domain == "spd":
        return _spd(value, "")
    return None


def _spd(value, path):
    """What keeps a matrix, or each matrix of a batch, from being symmetric positive definite."""
    if value and isinstance(value[0], list) and value[0] and isinstance(value[0][0], list):
        for k, m in enumerate(value):
            bad = _spd(m, "%s[%d]" % (path, k))
            if bad is not None:
                return bad
        return None
    n = len(value)
    for i in range(n):
        for j in range(i):
            a, b = value[i][j], value[j][i]
            if abs(a - b) > SYMMETRY_TOLERANCE * max(abs(a), abs(b), 1.0):
                return "%s is not symmetric: [%d][%d] is %r, [%d][%d] is %r" % (path, i, j, a, j, i, b)
    if not _positive_definite(value):
        return "%s is not positive definite (its Cholesky factorization fails)" % path
    return None


def _first_entry(x, ok, path):
    if not isinstance(x, list):
        return None if ok(x) else (path, x)
    for k, y in enumerate(x):
        bad = _first_entry(y, ok, "%s[%d]" % (path, k))
        if bad is not None:
            return bad
    return None


def _first_row(x, path):
    """The first row along the last dim that does not sum to 1."""
    if isinstance(x, list) and x and isinstance(x[0], list):
        for k, y in enumerate(x):
            bad = _first_row(y, "%s[%d]" % (path, k))
            if bad is not None:
                return bad
        return None
    total = math.fsum(x) if isinstance(x, list) else x
    if abs(total - 1) > SIMPLEX_TOLERANCE:
        return "%s sums to %r" % (path, total) if isinstance(x, list) else "%s is %r" % (path, x)
    return None


def _positive_definite(rows):
    """Whether a symmetric matrix (lists of floats) has a Cholesky factorization."""
    import numpy                                 # only for a given spd value
    try:
        numpy.linalg.cholesky(numpy.array(rows, dtype=float))
        return True
    except numpy.linalg.LinAlgError:
        return False


DOMAIN_RULES = {
    "positive": "every entry > 0", "nonnegative": "every entry >= 0",
    "unit": "every entry strictly between 0 and 1",
    "simplex": "entries >= 0 that sum to 1 along the last dim",
    "spd": "a symmetric positive definite matrix",
}


_ENTRY_OK = {"positive": lambda x: x > 0, "nonnegative": lambda x: x >= 0,
             "unit": lambda x: 0 < x < 1, "simplex": lambda x: x >= 0}


SIMPLEX_TOLERANCE = 1e-9        # |sum - 1| of each row


SYMMETRY_TOLERANCE = 1e-12      # |a_ij - a_ji| relative to the larger entry
