"""Named adjoints and structural simplification (issue 12), measured side by side.

1. An L-layer relu MLP (width 8, softmax cross-entropy): the total printed size of its
   derivation -- every named adjoint's text plus every gradient's text -- for L = 4, 8,
   16, 32, the characters per layer, and the derivation time.  Target: linear, at most
   120 characters per layer.
2. Printed size of the input gradient of LayerNorm, BatchNorm, RMSNorm, the Mahalanobis
   distance, Tr(X^4) and a 3-layer MLP against the textbook's form of the same closed form
   (typed in below from the textbooks, in the spec language, with the same names).
   Target: at most 1.3x the textbook.

    python bench/named_adjoints.py
"""
import time

from _common import machine_line

import symgrad


def mlp(layers, width=8, batch=4, classes=3):
    s = "inputs:\n  x: {shape: [%d, %d], requires_grad: false}\n" % (batch, width)
    s += "  y: {shape: [%d, %d], requires_grad: false, domain: simplex}\n" % (batch, classes)
    nodes = ""
    prev = "x"
    for k in range(1, layers + 1):
        out = classes if k == layers else width
        s += "  W%d: {shape: [%d, %d]}\n  b%d: {shape: [%d]}\n" % (k, out, width, k, out)
        if k == layers:
            nodes += "  z: %s @ W%d.T + b%d\n" % (prev, k, k)
        else:
            nodes += "  h%d: relu(%s @ W%d.T + b%d)\n" % (k, prev, k, k)
            prev = "h%d" % k
    return s + "nodes:\n" + nodes + "  loss: cross_entropy(z, y)\n"


def printed_size(d):
    adj = sum(len(a.text) for o in d.problem.outputs for a in d.adjoints(o).values())
    return adj + sum(len(g.text) for g in d.gradients)


NORM = """
dims: {n: 4, d: 6}
inputs:
  x: {shape: [n, d]}
  g: {shape: [d]}
  b: {shape: [d]}
  gY: {shape: [n, d], requires_grad: false}
nodes:
  mu: mean(x, dim=DIM, keepdim=True)
  xc: x - mu
  v: mean(xc**2, dim=DIM, keepdim=True)
  xh: xc/sqrt(v + 0.00001)
  Y: g*xh + b
  L: sum(Y*gY)
"""

RMS = """
dims: {n: 4, d: 6}
inputs:
  x: {shape: [n, d]}
  g: {shape: [d]}
  gY: {shape: [n, d], requires_grad: false}
nodes:
  ms: mean(x**2, dim=1, keepdim=True)
  r: rsqrt(ms + 0.00001)
  Y: g*x*r
  L: sum(Y*gY)
"""

CASES = [
    # (name, spec, output, wrt, textbook form in the spec language)
    ("LayerNorm dL/dx", NORM.replace("DIM", "1"), "L", "x",
     "(g*gY - mean(g*gY, dim=1, keepdim=True) - xh*mean(g*gY*xh, dim=1, keepdim=True))"
     "/sqrt(v + 1/100000)"),
    ("BatchNorm dL/dx", NORM.replace("DIM", "0"), "L", "x",
     "(g*gY - mean(g*gY, dim=0, keepdim=True) - xh*mean(g*gY*xh, dim=0, keepdim=True))"
     "/sqrt(v + 1/100000)"),
    ("RMSNorm dL/dx", RMS, "L", "x",
     "r*(g*gY - x*r**2*mean(g*gY*x, dim=1, keepdim=True))"),
    ("Mahalanobis dd/dx", "inputs:\n  x: {shape: [5]}\n  mu: {shape: [5]}\n  P: {shape: [5, 5], domain: spd}\n"
     "nodes:\n  d: sqrt((x - mu) @ P @ (x - mu))\n", "d", "x", "P @ (x - mu)/d"),
    ("Tr(X^4) dt/dX", "inputs:\n  X: {shape: [4, 4]}\nnodes:\n  t: trace(X @ X @ X @ X)\n", "t", "X",
     "4*(X @ X @ X).T"),
]


def main():
    print(machine_line())
    print("\n1. L-layer relu MLP: total printed derivation (named adjoints + gradients)")
    print("%6s %10s %12s %12s" % ("L", "chars", "chars/layer", "derive s"))
    sizes = {}
    for L in (4, 8, 16, 32):
        t0 = time.perf_counter()
        d = symgrad.derive(symgrad.loads(mlp(L)))
        dt = time.perf_counter() - t0
        sizes[L] = printed_size(d)
        print("%6d %10d %12.1f %12.3f" % (L, sizes[L], sizes[L] / L, dt))
    growth = (sizes[32] - sizes[16]) / 16
    ok1 = all(sizes[L] / L <= 120 for L in sizes) and growth <= 120
    print("growth from L=16 to 32: %.1f chars per layer (target <= 120): %s" % (growth, "PASS" if ok1 else "FAIL"))

    print("\n2. printed size against the textbook form")
    print("%-20s %8s %8s %7s   closed form" % ("case", "symgrad", "textbook", "ratio"))
    ok2 = True
    for name, spec, o, x, book in CASES:
        d = symgrad.derive(symgrad.loads(spec))
        g = d.gradient(o, x)
        ratio = len(g.text) / len(book)
        ok2 &= ratio <= 1.3
        print("%-20s %8d %8d %7.2f   %s" % (name, len(g.text), len(book), ratio, g.text))
    d = symgrad.derive(symgrad.loads(mlp(3)))
    book3 = ["(softmax(z, dim=1) - y)/4", "(grad_z @ W3)*(h2 > 0)", "(grad_h2_pre @ W2)*(h1 > 0)",
             "grad_h1_pre.T @ x", "sum(grad_h1_pre, dim=0)", "grad_h2_pre.T @ h1", "sum(grad_h2_pre, dim=0)",
             "grad_z.T @ h2", "sum(grad_z, dim=0)"]
    size3, book_size = printed_size(d), sum(len(t) for t in book3)
    ok2 &= size3 / book_size <= 1.3
    print("%-20s %8d %8d %7.2f   (whole derivation)" % ("3-layer MLP", size3, book_size, size3 / book_size))
    print("\nverdict: %s" % ("PASS" if ok1 and ok2 else "FAIL"))


if __name__ == "__main__":
    main()
