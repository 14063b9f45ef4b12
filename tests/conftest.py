import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

EXAMPLES = os.path.join(ROOT, "examples")


def parse_back(d, g, env):
    """A gradient's ``text`` parsed back into SymPy, its named adjoints' texts parsed in order
    (each may use spec names and earlier adjoints) and substituted: SPEC section 9's promise
    that the report's texts define everything a closed form names."""
    from symgrad.spec.expr import parse_expr_text
    env = dict(env)
    values = []
    for a in d.named[g.output].defs:
        values.append((a.symbol, parse_expr_text(_text(a.value), env)))
        env[a.name] = a.symbol
    e = parse_expr_text(g.text, env)
    for sym, v in reversed(values):
        e = e.xreplace({sym: v})
    return e


def eval_back(d, g, env, dims, dtype, device):
    """A gradient's ``text`` evaluated with real torch ops, its named adjoints' texts first."""
    from symgrad.numeric.reference import TorchEval
    env = dict(env)
    for a in d.named[g.output].defs:
        env[a.name] = TorchEval(env, dims, dtype, device).eval_text(_text(a.value))
    return TorchEval(env, dims, dtype, device).eval_text(g.text)


def _text(e):
    from symgrad.printing import to_text
    return to_text(e)
