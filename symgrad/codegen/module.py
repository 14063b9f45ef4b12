"""Code generation: closed forms -> a self-contained Python module over torch (SPEC §7).

The generated module needs only ``torch`` and never calls autograd.  It has

* ``INPUTS``, ``OUTPUTS``, ``WRT``;
* ``forward(*inputs)`` -> ``{output: tensor}``, the spec's nodes evaluated;
* ``gradients(*inputs, grad_<o>=...)`` -> ``{output: {wrt: tensor}}``, the closed forms
  (their text is in the docstrings);
* ``SymgradFunction``, a ``torch.autograd.Function`` whose ``backward`` is the closed forms,
  so a derived gradient drops into a training loop: ``SymgradFunction.apply(*inputs)``.

How the code is made (one `Plan` per derivation):

1. *Forward reuse* (`Prepare`): any subexpression equal to a spec node's definition becomes
   the node's name, a relu mask ``(x @ W.T + b > 0)`` becomes ``(h > 0)`` for the node
   ``h = relu(x @ W.T + b)``, and a sum of transposes ``a.T - b.T`` is kept as ``(a - b).T``.
2. *Common subexpressions* (`CoeffSplit`, `Plan`): every subexpression is split into a scalar
   coefficient and a primitive part (``(y - p)/B`` and ``(p - y)`` share ``p - y``), the
   primitive parts that occur more than once are computed once, into temporaries named after
   what they are: ``grad_h`` for the adjoint of a node ``h`` (``derivation.sweeps``),
   ``softmax_z``, ``t0`` ...  Nodes needed by the closed forms are computed once, by name.
3. *Lowering* (`CodePrinter`, over the torch printer): ``torch.addmm`` for ``A @ B + bias``,
   relu-style masks as one fused kernel (``g * (h > 0)`` is what autograd runs for relu's
   backward, ``aten.threshold_backward``), ``torch.full_like`` instead of ``c * ones``,
   and 0/1 masks cast to the working dtype only where PyTorch would not promote them.

A spec may name a tensor or dim like something the module uses itself (``torch``, ``ctx``,
``_dt``, ``_closed_forms``, ``TypeError`` ...: `compile_plan.MODULE_NAMES`): the code calls it
by another name (``torch_``); ``forward`` and ``gradients`` still take the spec's names as
keyword arguments and hand them on to an implementation with the new names.

`op_count` counts the arithmetic of the generated statements from their shapes, for the
"gradient costs at most 4x the forward pass" target.
"""
import re

from sympy import Add, Mul

from ..ops.linalg import MatmulOp, DotOp, InverseOp, DetOp
from ..ops.shape import OnesLikeOp, ZerosLikeOp, Constant, EyeOp
from ..tensor import Tensor, shape_of
from ..version import __version__
from .forms import Transposed, VIEWS, children, free_names, is_coeff
from .plan import Plan
from .lower import AsFloat
from .second import second_source, directions
from .source import doc_safe, dim_lookup as _dim_lookup, prologue as _prologue, INT_CODE  # noqa: F401 (doc_safe re-exported)


_MATH = re.compile(r"\bmath\.")        # functions of dims are Python numbers: math.sqrt(d)


# --- 5. the module -------------------------------------------------------------------------
# helpers the generated module defines when it uses them: autograd's own fused kernels
FUSED = [
    ("_fused_relu_mask", "g * (x > threshold), in one kernel (autograd's relu backward).",
     ("g, x, threshold", "torch.ops.aten.threshold_backward(g, x, threshold)")),
    ("_fused_leaky_mask", "g * ((x > 0) + slope * (x <= 0)), in one kernel (leaky_relu's backward).",
     ("g, x, slope", "torch.ops.aten.leaky_relu_backward(g, x, slope, False)")),
    ("_fused_tanh_grad", "g * (1 - h**2), in one kernel (autograd's tanh backward).",
     ("g, h", "torch.ops.aten.tanh_backward(g, h)")),
    ("_fused_sigmoid_grad", "g * s * (1 - s), in one kernel (autograd's sigmoid backward).",
     ("g, s", "torch.ops.aten.sigmoid_backward(g, s)")),
]


def _tuple(names):
    return "(%s)" % (names[0] + ",") if len(names) == 1 else "(%s)" % ", ".join(names)


def _doc_forms(d):
    """The closed forms' text, one line each, after the named adjoints they use."""
    out = []
    for o in d.problem.outputs:
        out += ["%s = %s" % (name, a.text) for name, a in d.adjoints(o).items()]
    return out + ["d%s/d%s = %s%s" % (g.output, g.wrt, g.text,
                                      "   (upstream gradient %s)" % g.upstream if g.upstream else "")
                  for g in d.gradients]


def _int_codes(prob, py):
    return {py(x.name): INT_CODE[x.dtype] for x in prob.inputs if x.dtype != "float"}


def module_source(d, plan=None):
    """The text of the compiled module for a Derivation."""
    plan = plan or Plan(d)
    prob = d.problem
    py = plan.name                     # a spec name as the code spells it (see Plan.py)
    names = list(plan.inputs)          # the public signatures keep the spec's names
    args = [py(x) for x in names]
    lookup = _dim_lookup(prob, py)
    title = doc_safe(d.title)
    second, second_stmts = second_source(d, names, args, lookup, py, ints=_int_codes(prob, py))
    needs_math = any(_MATH.search(st.code) for st in plan.stmts) or any(_MATH.search(s) for s in second)
    L = ['"""%s -- closed-form gradients generated by symgrad %s.' % (title, __version__), ""]
    forms = ["    " + t for t in _doc_forms(d)]
    L += forms
    L += ["",
          "Needs only torch; gradients() never calls autograd.  Usage:",
          "",
          "    forward(%s)    -> {output: tensor}" % ", ".join(names),
          "    gradients(%s%s) -> {output: {input: tensor}}" % (
              ", ".join(names), "".join(", %s=..." % s for s in plan.upstreams)),
          "    SymgradFunction.apply(%s) -> %s   # autograd.Function, backward = closed forms" % (
              ", ".join(names), ", ".join(prob.outputs)),
          ] + ([] if not d.hessians else [
          "    hessians(%s) -> {output: {x: {y: tensor}}}" % ", ".join(names),
          "    hvps(%s, %s) -> {output: {x: {y: tensor}}}" % (
              ", ".join(names), ", ".join("%s=..." % v for v in directions(d).values()))]) + [
          '"""',
          "import torch"] + (["import math"] if needs_math else []) + [
          "",
          "INPUTS = %r" % (tuple(names),),
          "OUTPUTS = %r" % (tuple(prob.outputs),),
          "WRT = %r" % (tuple(prob.wrt),), "", ""]
    L += ["def _tensors(*values, detach=False):",
          '    """Inputs as tensors of one floating dtype, on the device of the first tensor."""',
          "    ref = next((v for v in values if isinstance(v, torch.Tensor)), None)",
          "    dt = ref.dtype if ref is not None and ref.is_floating_point() else torch.get_default_dtype()",
          "    dev = ref.device if ref is not None else None",
          "    if detach:",
          "        values = [v.detach() if isinstance(v, torch.Tensor) else v for v in values]",
          "    return [torch.as_tensor(v, dtype=dt, device=dev) for v in values]",
          "", ""]
    ints = _int_codes(prob, py)
    if ints:
        L += ["def _ints(v, dtype, like):",
              '    """An integer or bool input as a tensor of its own dtype (never the float one)."""',
              "    dev = like.device if isinstance(like, torch.Tensor) else None",
              "    if isinstance(v, torch.Tensor) and v.dtype is dtype and (dev is None or v.device == dev):",
              "        return v",
              "    return torch.as_tensor(v, dtype=dtype, device=dev)",
              "", ""]
    for name, doc, body in FUSED:
        if any(name + "(" in st.code for st in plan.stmts + second_stmts):
            L += ["def %s(%s):" % (name, body[0]),
                  '    """%s"""' % doc,
                  "    return %s" % body[1], "", ""]
    def define(fname, doc, upstreams=()):
        """``def fname(inputs, upstreams):`` and its docstring.  When an input has another name
        in the code (torch, ctx ...), the public function takes the spec's name and hands it
        on to an implementation (``_forward``) whose parameters are the new names."""
        if args == names:
            L.append("def %s(%s):" % (fname, ", ".join(args + list(upstreams))))
            L.extend(doc)
            return
        impl = plan.fresh("_%s" % fname)
        L.append("def %s(%s):" % (fname, ", ".join(names + list(upstreams))))
        L.extend(doc)
        L.append("    return %s(%s)" % (impl, ", ".join(names + ["%s=%s" % (s, s) for s in plan.upstreams
                                                                   if upstreams])))
        L.extend(["", ""])
        L.append("def %s(%s):" % (impl, ", ".join(args + list(upstreams))))

    # forward()
    fwd = plan.forward_stmts()
    outs_exprs = [prob.input(o).symbol for o in prob.outputs if o not in plan.by_name
                  and o in plan.input_syms]
    _, fdims, fdt = plan.names_in(fwd, outs_exprs)
    define("forward", ['    """The spec\'s nodes, evaluated; returns {output: tensor}."""'])
    L += _prologue(args, fdims, lookup, fdt, py, ints=ints)
    for st in fwd:
        L.append("    %s = %s" % (py(st.name), st.code))
    L.append("    return {%s}" % ", ".join("%r: %s" % (o, py(o)) for o in prob.outputs))
    L += ["", ""]

    # gradients() = the forward part it needs + _closed_forms()
    grad_stmts = plan.gradient_stmts()
    fwd_names = {st.name for st in plan.node_stmts()}
    head = [st for st in grad_stmts if st.name in fwd_names]
    tail = [st for st in grad_stmts if st.name not in fwd_names]
    bwd_refs = set()
    for st in tail + plan.results:
        bwd_refs |= free_names(st.expr)
    iface = [py(x) for x in names if x in bwd_refs] + [py(st.name) for st in head if st.name in bwd_refs]
    bdims = [py(n) for n in prob.dims if n in bwd_refs]
    bdt = any("_dt" in st.code or "_dev" in st.code for st in tail + plan.results)
    upstreams = ["%s=None" % s for s in plan.upstreams]
    define("gradients", ['    """Closed-form gradients; returns {output: {input: tensor}}.', ""] + forms + ['    """'],
           upstreams)
    _, hdims, hdt = plan.names_in(head)
    hdims = [n for n in prob.dims if n in set(hdims) or py(n) in bdims]
    L += _prologue(args, hdims, lookup, hdt or bdt, py, detach=True, ints=ints)
    for s in plan.upstreams:
        L.append("    if %s is None:" % s)
        L.append("        raise TypeError(%r)" % ("gradients() needs %s, the upstream gradient of %s"
                                                   % (s, s[len("grad_"):])))
    for st in head:
        L.append("    %s = %s" % (py(st.name), st.code))
    dt_args = ["_dt", "_dev"] if bdt else []
    call_args = iface + bdims + dt_args + ["%s=%s" % (s, s) for s in plan.upstreams]
    L.append("    return _closed_forms(%s)" % ", ".join(call_args))
    L += ["", ""]

    L.append("def _closed_forms(%s):" % ", ".join(iface + bdims + dt_args + upstreams))
    L.append('    """The closed forms, given the inputs and forward values they reuse."""')
    for st in tail + plan.results:
        L.append("    %s = %s" % (py(st.name), st.code))
    body = []
    for o in prob.outputs:
        items = ", ".join("%r: %s" % (st.result[1], st.name) for st in plan.results
                          if st.result[0] == o)
        body.append("%r: {%s}" % (o, items))
    one = "    return {%s}" % ", ".join(body)
    if len(one) <= 99:
        L.append(one)
    else:
        L.append("    return {")
        for o in prob.outputs:
            L.append("        %r: {" % o)
            for st in plan.results:
                if st.result[0] == o:
                    L.append("            %r: %s," % (st.result[1], st.name))
            L.append("        },")
        L.append("    }")
    L += ["", ""]

    L += _function_source(d, plan, args, lookup, iface, bdims, dt_args, ints)
    if second:
        L += ["", ""] + second[:-2]
    return "\n".join(L) + "\n"


def _function_source(d, plan, args, lookup, iface, bdims, dt_args, ints):
    """class SymgradFunction(torch.autograd.Function): forward = nodes, backward = closed forms."""
    prob = d.problem
    py = plan.name
    node_st = plan.node_stmts()
    _, ndims, ndt = plan.names_in(node_st)
    ndims = [n for n in prob.dims if n in set(ndims) or py(n) in bdims]
    outs = [py(o) for o in prob.outputs]
    L = ["class SymgradFunction(torch.autograd.Function):",
         '    """The spec as one autograd op whose backward is the closed forms (not autograd):',
         "",
         "        %s = SymgradFunction.apply(%s)" % (", ".join(prob.outputs), ", ".join(plan.inputs)),
         "",
         "    For a scalar output o the closed form d o/dx is scaled by the incoming gradient;",
         "    for a non-scalar one the incoming gradient is grad_o.",
         '    """',
         "",
         "    @staticmethod",
         "    def forward(ctx, %s):" % ", ".join(args)]
    L += _prologue(args, ndims, lookup, ndt or bool(dt_args), py, indent="        ", ints=ints)
    for st in node_st:
        L.append("        %s = %s" % (py(st.name), st.code))
    if iface:
        L.append("        ctx.save_for_backward(%s)" % ", ".join(iface))
    if bdims:
        L.append("        ctx.dims = (%s)" % (", ".join(bdims) + ("," if len(bdims) == 1 else "")))
    if dt_args:
        L.append("        ctx.dt = (_dt, _dev)")
    nondiff = [py(o) for o in prob.outputs if not d.graph.requires_grad.get(o, False)]
    if nondiff:
        L.append("        ctx.mark_non_differentiable(%s)" % ", ".join(nondiff))
    L.append("        return %s" % ", ".join(outs))
    L.append("")
    L.append("    @staticmethod")
    gnames = ["grad_%s" % o for o in prob.outputs]
    L.append("    def backward(ctx, %s):" % ", ".join(gnames))
    if iface:
        L.append("        %s = ctx.saved_tensors" % (", ".join(iface) + ("," if len(iface) == 1 else "")))
    if bdims:
        L.append("        %s = ctx.dims" % (", ".join(bdims) + ("," if len(bdims) == 1 else "")))
    if dt_args:
        L.append("        _dt, _dev = ctx.dt")
    call = iface + bdims + dt_args + ["%s=%s" % (s, s) for s in plan.upstreams]
    L.append("        _g = _closed_forms(%s)" % ", ".join(call))
    ret = []
    for x in plan.inputs:
        terms = []
        if x in prob.wrt:
            for o in prob.outputs:
                gr = d.gradient(o, x)
                if not gr.connected or gr.expr == 0 or isinstance(gr.expr, ZerosLikeOp):
                    continue
                if gr.upstream:
                    terms.append("_g[%r][%r]" % (o, x))
                else:
                    shape = prob.tensors[o].tshape
                    scale = "grad_%s" % o if len(shape) == 0 else "grad_%s.reshape(())" % o
                    terms.append("_g[%r][%r] * %s" % (o, x, scale))
        ret.append(" + ".join(terms) if terms else "None")
    for k, x in enumerate(plan.inputs):
        if x not in prob.wrt:
            L.append("        if ctx.needs_input_grad[%d]:" % k)
            L.append("            raise RuntimeError(%r)" % (
                "symgrad derived no gradient for input '%s': it is not in WRT" % x))
    one = "        return %s" % (", ".join(ret) + ("," if len(ret) == 1 else ""))
    if len(one) <= 99:
        L.append(one)
    else:
        L.append("        return (")
        for x, r in zip(plan.inputs, ret):
            L.append("            %s,%s" % (r, "" if r != "None" else "  # %s" % x))
        L.append("        )")
    return L


def load_module(source, name="symgrad_compiled"):
    """Execute generated source (ours, never user text) into a fresh module."""
    import types
    mod = types.ModuleType(name)
    mod.__file__ = "<symgrad %s>" % name
    code = compile(source, mod.__file__, "exec")
    exec(code, mod.__dict__)
    return mod


def compile_module(d):
    """The generated module, loaded in-process (it has .source)."""
    src = module_source(d)
    mod = load_module(src)
    mod.source = src
    return mod


def compile_gradients(d):
    """An in-process callable with the contract of the module's gradients()."""
    mod = compile_module(d)
    fn = mod.gradients
    fn.module = mod
    fn.forward = mod.forward
    fn.Function = mod.SymgradFunction
    return fn


# --- 6. arithmetic count -------------------------------------------------------------------
CUBIC = (InverseOp, DetOp)


def _flops(e, size):
    """Arithmetic of one expression (each name is free): matmul 2mnk, other ops one per element."""
    if isinstance(e, Tensor) or is_coeff(e) or not e.args:
        return 0
    kids = children(e)
    own = 0
    if isinstance(e, MatmulOp):
        a = shape_of(e.args[0])
        own = 2 * size(shape_of(e)) * size(a[-1:])
    elif isinstance(e, DotOp):
        own = 2 * size(shape_of(e.args[0]))
    elif isinstance(e, CUBIC):
        n = size(shape_of(e.args[0])[-1:])
        own = n ** 3
    elif isinstance(e, VIEWS + (Transposed, Constant, EyeOp, OnesLikeOp, ZerosLikeOp, AsFloat)):
        own = 0
    elif isinstance(e, (Add, Mul)):
        if isinstance(e, Mul) and any(isinstance(a, OnesLikeOp) for a in e.args):
            own = size(shape_of(e))          # full_like / broadcast copy
        else:
            n = sum(1 for a in e.args if not is_coeff(a)) + (1 if any(is_coeff(a) for a in e.args) else 0)
            own = max(n - 1, 0) * size(shape_of(e))
    else:                                 # elementwise, reductions, softmax ...
        own = max([size(shape_of(e))] + [size(shape_of(a)) for a in kids])
    return own + sum(_flops(a, size) for a in kids)


def op_count(d, dims=None, plan=None):
    """Arithmetic of the generated forward() and gradients(), counted from their statements.

    Returns {"forward": flops, "gradients": flops, "ratio": gradients/forward,
    "statements": [(name, flops), ...] of gradients()}.  Matmuls count 2mnk, every other
    computing op one per element of its largest operand, views and factories nothing.
    """
    plan = plan or Plan(d)
    vals = {}
    for name, (sym, v) in d.problem.dims.items():
        v = (dims or {}).get(name, v)
        if v is None:
            raise ValueError("dim %s has no value: pass dims={%r: N}" % (name, name))
        vals[sym] = int(v)

    def size(shape):
        n = 1
        for s in shape:
            n *= int(s.subs(vals)) if not s.is_Integer else int(s)
        return n
    fwd = sum(_flops(st.expr, size) for st in plan.forward_stmts())
    rows = [(st.name, _flops(st.expr, size)) for st in plan.gradient_stmts() + plan.results]
    grad = sum(f for _, f in rows)
    return {"forward": fwd, "gradients": grad, "ratio": grad / fwd if fwd else float("inf"),
            "statements": rows}
