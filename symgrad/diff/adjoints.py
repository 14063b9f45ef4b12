"""Named adjoints: a derivation written the way a person writes backprop.

During the sweep (`symgrad.diff.sweep`), the adjoint of every *candidate* unit -- a spec
node (``grad_z``) or the pre-activation of one (``grad_h2_pre`` for ``h2 = relu(pre)``) --
is offered to `AdjointNames`.  A full-shaped adjoint that is more than a name or a number
gets a symbol, and the sweep goes on with the symbol, so each later contribution mentions
``grad_z`` instead of spelling it out again: the printed derivation grows linearly with
depth.  Units inside a function's own formula (the log-softmax inside ``cross_entropy``)
are never candidates, so a textbook simplification across them still happens on values.

`finish` then applies the policy of SPEC section 9: an adjoint used once whose definition
is short, or any adjoint whose definition is very short, is put back inline (and the
expression that receives it simplified again, forward values named: ``solve(S, -r/2)`` is
``-a/2`` for the node ``a = solve(S, r)``); the others stay named, in an order where
each definition uses only spec names and earlier adjoints.
"""
from ..printing import to_text
from ..tensor import Tensor, shape_of
from .simplify import tidy

SHORT = 16          # a definition this short is always inlined (characters of its text)
INLINE_TIDY = 400   # an inline closed form is simplified while its tree is at most this big
INLINE_ONCE = 60    # a definition used once is inlined up to this length
LONG = 400          # an adjoint leading to one gradient is named only when longer than this


class Adjoint:
    """One named adjoint: ``symbol`` stands for ``value`` (in terms of earlier adjoints)."""

    def __init__(self, symbol, of, value):
        self.symbol, self.of, self.value = symbol, of, value

    @property
    def name(self):
        return self.symbol.name

    @property
    def shape(self):
        return self.symbol.tshape


class AdjointNames:
    """Names for the adjoints of one output's sweep (``prefix`` + the unit's stem)."""

    prefix = "grad_"

    def __init__(self, graph, taken):
        self.graph = graph
        self.taken = set(taken)          # spec names and names already given
        self.pre = graph.pre_activations  # pre-activation expression -> its node
        self.defs = []                   # Adjoints, in the order the sweep made them
        self.by_symbol = {}
        self.made = 0                    # symbols the sweep went on with (some may be inlined later)
        self._inline_memo = None         # (the definitions it was made from, their inline forms)

    def offer(self, u, G, consumers, targets):
        """The adjoint the sweep goes on with for unit ``u``: a new symbol, or ``G`` itself.

        Named when it would be spelled out again -- it feeds several contributions that
        lead to several gradients (``targets``) -- or is long.  Otherwise it stays a value,
        so that the next rule can simplify with it: ``sigmoid``'s ``p*(1 - p)`` cancels
        ``binary_cross_entropy``'s denominator, and LayerNorm's two paths to ``x`` meet
        and cancel a term that sums to zero."""
        stem = self.stem(u)
        if stem is None or not self.worth(u, G):
            return G
        if (consumers < 2 or targets < 2) and len(to_text(G)) <= LONG:
            return G
        name = self.fresh(self.prefix + stem)
        sym = Tensor(name, shape_of(u), real=True)
        adj = Adjoint(sym, stem, G)
        self.made += 1
        self.defs.append(adj)
        self.by_symbol[sym] = adj
        return sym

    def stem(self, u):
        if isinstance(u, Tensor):
            return u.name if u in self.graph.defs else None
        node = self.pre.get(u)
        return None if node is None else node.name + "_pre"

    @staticmethod
    def worth(u, G):
        """Only a full-shaped adjoint that is more than a name or a constant is named."""
        if isinstance(G, Tensor) or not G.free_symbols:
            return False
        return tuple(shape_of(G)) == tuple(shape_of(u))

    def fresh(self, name):
        out, k = name, 1
        while out in self.taken:
            k += 1
            out = "%s%d" % (name, k)
        self.taken.add(out)
        return out

    # --- the policy ------------------------------------------------------------------------
    def finish(self, forms):
        """Inline what is not worth a name; returns the closed forms (dict key -> expr) in
        terms of the adjoints that stay, which are `self.defs` afterwards.

        Uses are counted once and kept up to date as definitions are substituted, so the
        cost is the size of the named expressions, not the depth times it."""
        exprs = {("form", k): e for k, e in forms.items()}
        exprs.update({("def", a.symbol): a.value for a in self.defs})
        uses, holders = {}, {}

        def scan(key, sign):
            for s in _occurrences(exprs[key], self.by_symbol):
                uses[s] = uses.get(s, 0) + sign
                if sign > 0:
                    holders.setdefault(s, set()).add(key)

        for key in exprs:
            scan(key, 1)
        changed = True
        while changed:
            changed = False
            for adj in list(self.defs):
                n = uses.get(adj.symbol, 0)
                length = len(to_text(adj.value))
                if n and length > SHORT and (n > 1 or length > INLINE_ONCE):
                    continue
                self.defs.remove(adj)
                del self.by_symbol[adj.symbol]
                scan(("def", adj.symbol), -1)
                del exprs[("def", adj.symbol)]
                sub = {adj.symbol: adj.value}
                for key in holders.pop(adj.symbol, ()):
                    if key not in exprs:
                        continue
                    scan(key, -1)
                    exprs[key] = tidy(self.graph.reuse(exprs[key].xreplace(sub)))
                    scan(key, 1)
                    if key[0] == "def":
                        self.by_symbol[key[1]].value = exprs[key]
                changed = True
        return {k: exprs[("form", k)] for k in forms}

    def uses_of(self, expr):
        """The adjoints ``expr`` needs, directly or through others, in definition order."""
        need, todo = set(), [expr]
        while todo:
            e = todo.pop()
            for s in e.free_symbols:
                if s in self.by_symbol and s not in need:
                    need.add(s)
                    todo.append(self.by_symbol[s].value)
        return [a.name for a in self.defs if a.symbol in need]

    def inline(self, expr):
        """``expr`` with every adjoint substituted, simplified while it stays small.

        Each adjoint's own inline form is made once (`_inlined`, in definition order), so
        inlining the gradients of an L-layer network costs O(L), not O(L^2).  The inline
        form of an adjoint used on many paths is a DAG whose tree may be exponential
        (``h_k = tanh(h_{k-1}) + h_{k-2}/2``): it is built by a memoised walk and left as it
        is once its tree outgrows ``INLINE_TIDY``."""
        return self._substitute(expr, self._inlined())

    def _inlined(self):
        key = tuple((a.symbol, id(a.value)) for a in self.defs)
        memo = self._inline_memo
        if memo is None or memo[0] != key:
            forms = {}
            for adj in self.defs:
                forms[adj.symbol] = self._substitute(adj.value, forms)
            memo = self._inline_memo = (key, forms)
        return memo[1]

    def _substitute(self, expr, forms):
        rule = {s: forms[s] for s in expr.free_symbols if s in forms}
        if not rule:
            return expr
        if tree_size(expr) <= INLINE_TIDY and all(tree_size(v) <= INLINE_TIDY for v in rule.values()):
            return tidy(self.graph.reuse(expr.xreplace(rule)))
        return replace_shared(expr, rule)


def tree_size(e, limit=10 ** 6):
    """Nodes of ``e`` as a tree (shared subtrees counted each time), computed over the DAG."""
    memo, stack = {}, [e]
    while stack:
        x = stack[-1]
        if id(x) in memo:
            stack.pop()
            continue
        todo = [a for a in x.args if id(a) not in memo]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        memo[id(x)] = min(limit, 1 + sum(memo[id(a)] for a in x.args))
    return memo[id(e)]


def replace_shared(e, rule):
    """``e.xreplace(rule)`` that rebuilds each shared subexpression once."""
    memo, stack = {}, [e]
    while stack:
        x = stack[-1]
        if id(x) in memo:
            stack.pop()
            continue
        if x in rule:
            memo[id(x)] = rule[x]
            stack.pop()
            continue
        todo = [a for a in x.args if id(a) not in memo]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        new = [memo[id(a)] for a in x.args]
        memo[id(x)] = x if all(a is b for a, b in zip(new, x.args)) else x.func(*new)
    return memo[id(e)]


def _occurrences(e, symbols):
    """Each occurrence of one of ``symbols`` in the tree of ``e`` (as it is printed)."""
    out, stack = [], [e]
    while stack:
        x = stack.pop()
        if x in symbols:
            out.append(x)
        elif x.args:
            stack.extend(x.args)
    return out


