"""Plug-in compilers with *planted* bugs, for the quality tests.

Each bug fires for one input shape only, the way real compiler bugs do, so a
fuzzer that finds it must tell that shape apart from its neighbours:

========================  ====================================================
``wrong_backend``         silent wrong result when an input has a dim of 7
``aborting_backend``      ``os.abort()`` when an input has a dim of 5
``hanging_backend``       never returns when an input has a dim of 6
``wrong_transform``       silent wrong result (TF) when an input has a dim of 7
``strided_backend``       silent wrong result when an input is not contiguous
``half_transform``        silent wrong result (TF) when an input is float16
``keepdim_sum_backend``   silent wrong result for ``torch.sum(...,
                          keepdim=True)`` only
``floormod_transform``    silent wrong result (TF) for graphs holding
                          ``FloorMod`` only
``naive_softmax_onnx``    an ONNX rewrite (``torch.onnx:transform=``) that
                          expands Softmax without subtracting the maximum:
                          NaN where ``exp`` overflows (inputs above ~88 in
                          float32), right everywhere else
========================  ====================================================

The last two are for campaign tests: the seed calls take contiguous float32
inputs, so only the mutator's layout and dtype operators reach the bug.

``correct_backend``, ``correct_transform`` and ``stable_softmax_onnx`` (the
same expansion, with the maximum subtracted) are the control group: the
same plumbing without the bug, so any discrepancy they produce is the
fuzzer's own false positive.

Workers load these by dotted path (``planted:wrong_backend``): this module
must be importable as ``planted`` in a spawned worker, which inherits the
parent's ``sys.path`` (pytest's default ``prepend`` import mode puts this
directory there).  Nothing here imports a framework at module level, since a
worker never imports both torch and tensorflow.

Note [Deciding on the runtime inputs]
    The bugs look at the tensors the compiled callable is called with, not at
    ``example_inputs``: with static shapes (the runner compiles one callable
    per argument signature) the two have the same shapes, and real inputs
    never carry symbolic sizes whose comparison would add guards.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Sequence

__all__ = [
    "leaky_backend",
    "WRONG_DIM",
    "ABORT_DIM",
    "HANG_DIM",
    "WRONG_OFFSET",
    "WRONG_FACTOR",
    "correct_backend",
    "wrong_backend",
    "aborting_backend",
    "hanging_backend",
    "correct_transform",
    "wrong_transform",
    "strided_backend",
    "half_transform",
    "keepdim_sum_backend",
    "floormod_transform",
]

#: A dimension of this size triggers the wrong result (torch and TF).
WRONG_DIM = 7
#: A dimension of this size makes ``aborting_backend`` abort the process.
ABORT_DIM = 5
#: A dimension of this size makes ``hanging_backend`` never return.
HANG_DIM = 6
#: What ``wrong_backend`` adds to every element of its first float output.
WRONG_OFFSET = 1e-2
#: What ``wrong_transform`` multiplies its float outputs by.
WRONG_FACTOR = 1.01


def _has_dim(tensors: Sequence[Any], size: int) -> bool:
    """Some tensor among ``tensors`` has a dimension of ``size``."""
    return any(size in tuple(getattr(t, "shape", ())) for t in tensors)


# ---------------------------------------------------------------------------
# torch.compile backends: (gm, example_inputs) -> callable
# ---------------------------------------------------------------------------


def correct_backend(gm: Any, example_inputs: list) -> Callable:
    """The graph run as traced (no compiler, no bug)."""
    return gm.forward


def _nudge_first_float(outputs: Any) -> Any:
    import torch

    if isinstance(outputs, torch.Tensor):
        return outputs + WRONG_OFFSET if outputs.is_floating_point() else outputs
    items = list(outputs)
    for i, t in enumerate(items):
        if isinstance(t, torch.Tensor) and t.is_floating_point():
            items[i] = t + WRONG_OFFSET
            break
    return type(outputs)(items) if isinstance(outputs, (tuple, list)) else items


def wrong_backend(gm: Any, example_inputs: list) -> Callable:
    """Correct, except that when an input has a dimension of
    :data:`WRONG_DIM` the first floating-point output is off by
    :data:`WRONG_OFFSET` everywhere: a silent wrong result for one shape."""

    def run(*args: Any) -> Any:
        outputs = gm.forward(*args)
        return _nudge_first_float(outputs) if _has_dim(args, WRONG_DIM) else outputs

    return run


def aborting_backend(gm: Any, example_inputs: list) -> Callable:
    """Correct, except that it aborts the process (SIGABRT) when an input
    has a dimension of :data:`ABORT_DIM`."""

    def run(*args: Any) -> Any:
        if _has_dim(args, ABORT_DIM):
            os.abort()
        return gm.forward(*args)

    return run


def hanging_backend(gm: Any, example_inputs: list) -> Callable:
    """Correct, except that it never returns when an input has a dimension
    of :data:`HANG_DIM`."""

    def run(*args: Any) -> Any:
        while _has_dim(args, HANG_DIM):
            time.sleep(3600)
        return gm.forward(*args)

    return run


# ---------------------------------------------------------------------------
# tf.function transforms: (fn) -> callable
# ---------------------------------------------------------------------------


def correct_transform(fn: Callable) -> Callable:
    """``tf.function(fn)``, unchanged."""
    import tensorflow as tf

    return tf.function(fn)


def wrong_transform(fn: Callable) -> Callable:
    """``tf.function(fn)`` whose floating outputs are scaled by
    :data:`WRONG_FACTOR` when an input has a dimension of :data:`WRONG_DIM`."""
    import tensorflow as tf

    graph_fn = tf.function(fn)

    def scale(t: Any) -> Any:
        if isinstance(t, tf.Tensor) and t.dtype.is_floating:
            return t * tf.constant(WRONG_FACTOR, dtype=t.dtype)
        return t

    def run(*args: Any) -> Any:
        out = graph_fn(*args)
        return tf.nest.map_structure(scale, out) if _has_dim(args, WRONG_DIM) else out

    return run


def strided_backend(gm: Any, example_inputs: list) -> Callable:
    """Correct, except that the first floating output is off by
    :data:`WRONG_OFFSET` when an input tensor is not contiguous (a
    transposed, strided or expanded view): a compiler that assumes dense
    row-major inputs."""

    def run(*args: Any) -> Any:
        outputs = gm.forward(*args)
        if any(hasattr(t, "is_contiguous") and not t.is_contiguous() for t in args):
            return _nudge_first_float(outputs)
        return outputs

    return run


def half_transform(fn: Callable) -> Callable:
    """``tf.function(fn)`` whose floating outputs are scaled by
    :data:`WRONG_FACTOR` when an input is float16."""
    import tensorflow as tf

    graph_fn = tf.function(fn)

    def scale(t: Any) -> Any:
        if isinstance(t, tf.Tensor) and t.dtype.is_floating:
            return t * tf.constant(WRONG_FACTOR, dtype=t.dtype)
        return t

    def run(*args: Any) -> Any:
        out = graph_fn(*args)
        if any(isinstance(t, tf.Tensor) and t.dtype == tf.float16 for t in args):
            return tf.nest.map_structure(scale, out)
        return out

    return run


_CALLS_IN_THIS_PROCESS = [0]


def leaky_backend(gm: Any, example_inputs: list) -> Callable:
    """Correct in a fresh process, broken in one that already ran a call
    through it: stands for global state one case leaves to the next."""

    def run(*args: Any) -> Any:
        _CALLS_IN_THIS_PROCESS[0] += 1
        if _CALLS_IN_THIS_PROCESS[0] > 1:
            raise RuntimeError("state left behind by an earlier case")
        return gm.forward(*args)

    return run


def _expand_softmax(model: Any, stable: bool) -> Any:
    """``model`` with every Softmax node replaced by Exp, ReduceSum and Div
    over the same axis (``stable``: of ``x - max(x)``), as an ONNX optimizer
    that fuses or unfuses softmax would."""
    import onnx
    from onnx import helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    nodes = []
    for i, node in enumerate(graph.node):
        if node.op_type != "Softmax" or node.domain not in ("", "ai.onnx"):
            nodes.append(node)
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), -1)
        x, (y,) = node.input[0], node.output
        axes = f"planted_axes_{i}"
        graph.initializer.append(helper.make_tensor(axes, onnx.TensorProto.INT64, [1], [axis]))
        if stable:
            nodes.append(helper.make_node("ReduceMax", [x, axes], [f"planted_max_{i}"],
                                          keepdims=1))
            nodes.append(helper.make_node("Sub", [x, f"planted_max_{i}"],
                                          [f"planted_shifted_{i}"]))
            x = f"planted_shifted_{i}"
        nodes.append(helper.make_node("Exp", [x], [f"planted_exp_{i}"]))
        nodes.append(helper.make_node("ReduceSum", [f"planted_exp_{i}", axes],
                                      [f"planted_sum_{i}"], keepdims=1))
        nodes.append(helper.make_node("Div", [f"planted_exp_{i}", f"planted_sum_{i}"], [y]))
    del graph.node[:]
    graph.node.extend(nodes)
    return out


def naive_softmax_onnx(model: Any) -> Any:
    """Planted: softmax as exp(x) / sum(exp(x)): overflows to inf / inf =
    NaN for large inputs, exact enough for ordinary ones."""
    return _expand_softmax(model, stable=False)


def stable_softmax_onnx(model: Any) -> Any:
    """Control: the same rewrite with the maximum subtracted first."""
    return _expand_softmax(model, stable=True)


# ---------------------------------------------------------------------------
# Bugs behind one overload or one op (issue: schema knowledge and synthesis)
# ---------------------------------------------------------------------------


def _sums_with_keepdim(gm: Any) -> bool:
    import torch

    for node in gm.graph.nodes:
        is_sum = node.target in (torch.sum, "sum") or str(node.target).startswith("aten.sum")
        if is_sum and (node.kwargs.get("keepdim") is True or
                       (len(node.args) > 2 and node.args[2] is True)):
            return True
    return False


def keepdim_sum_backend(gm: Any, example_inputs: list) -> Callable:
    """The graph unchanged, except that a graph holding ``torch.sum(...,
    keepdim=True)`` returns its first float output nudged by
    :data:`WRONG_OFFSET`: wrong only for one overload's flag."""
    if not _sums_with_keepdim(gm):
        return gm.forward

    def run(*args: Any) -> Any:
        return _nudge_first_float(gm.forward(*args))

    return run


def floormod_transform(fn: Callable) -> Callable:
    """``tf.function(fn)`` whose floating outputs are scaled by
    :data:`WRONG_FACTOR` when its graph holds a ``FloorMod`` op: wrong for
    ``tf.math.floormod`` (and whatever lowers to it) only."""
    import tensorflow as tf

    graph_fn = tf.function(fn)

    def scale(t: Any) -> Any:
        if isinstance(t, tf.Tensor) and (t.dtype.is_floating or t.dtype.is_integer):
            return t + tf.ones_like(t)
        return t

    def run(*args: Any) -> Any:
        out = graph_fn(*args)
        ops = {op.type for op in graph_fn.get_concrete_function(*args).graph.get_operations()}
        return tf.nest.map_structure(scale, out) if "FloorMod" in ops else out

    return run
