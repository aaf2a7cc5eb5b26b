"""Framework results -> observation trees (inside a worker).

A result crosses the process boundary as a tree of
:mod:`runner.observation` nodes: tensors become arrays with the framework's
dtype name, Python containers keep their shape, anything else is an opaque
leaf named by its type.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from infra.dtypes import is_torch_bitcast, same_width_int, storage_dtype
from runner.call import is_tensor
from runner.observation import ArrayLeaf, MapNode, OpaqueLeaf, ScalarLeaf, SeqNode

__all__ = ["to_node", "tensor_to_numpy", "is_tensor"]

#: Nesting beyond this is reported as opaque (a pathological result).
MAX_DEPTH = 32


def tensor_to_numpy(t: Any) -> tuple[np.ndarray, str]:
    """(a C-contiguous numpy copy, the framework's dtype name)."""
    mod = type(t).__module__
    if mod.startswith("torch"):
        import torch

        t = t.detach()
        if t.is_sparse or t.layout != torch.strided:
            t = t.to_dense()
        if t.is_quantized:
            t = t.dequantize()
        t = t.resolve_conj().resolve_neg().cpu().contiguous()
        name = str(t.dtype).replace("torch.", "")
        if is_torch_bitcast(name):
            # numpy lacks the dtype: its bits, through an integer view, into
            # the ml_dtypes type that stores them alike (NaN payloads kept).
            bits = t.view(getattr(torch, same_width_int(name).name))
            arr = bits.numpy().view(storage_dtype(name))
        else:
            arr = t.numpy()
        return np.array(arr, copy=True, order="C"), name
    # tensorflow
    arr = t.numpy()
    name = t.dtype.name
    return np.array(arr, copy=True, order="C"), name


def _object_array(arr: Any, depth: int) -> Any:
    """An array of Python objects (tf.string values, object arrays a call
    returns) as nested sequences in its shape, so values and shape are
    compared; bytes become text (undecodable bytes escaped)."""
    if isinstance(arr, np.ndarray) and arr.ndim == 0:
        arr = arr.item()
    if not isinstance(arr, np.ndarray):
        if isinstance(arr, bytes):
            arr = arr.decode("utf-8", errors="backslashreplace")
        return to_node(arr, depth + 1)
    if depth > MAX_DEPTH:
        return OpaqueLeaf("ndarray", "nested too deep")
    return SeqNode("list", tuple(_object_array(arr[i], depth + 1) for i in range(len(arr))))


def to_node(obj: Any, depth: int = 0):
    """The observation tree of a result."""
    if depth > MAX_DEPTH:
        return OpaqueLeaf(type(obj).__name__, "nested too deep")
    if obj is None or isinstance(obj, (bool, int, float, complex, str)):
        return ScalarLeaf(obj)
    if isinstance(obj, np.generic):
        return ScalarLeaf(obj.item()) if obj.dtype.kind in "biufc" else OpaqueLeaf(
            type(obj).__name__, repr(obj)[:200])
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind == "O":
            return _object_array(obj, depth)
        return ArrayLeaf.from_numpy(np.array(obj, copy=True, order="C"))
    if is_tensor(obj):
        try:
            arr, name = tensor_to_numpy(obj)
        except Exception as exc:  # e.g. a symbolic tensor escaping a graph
            return OpaqueLeaf(type(obj).__name__, f"not convertible: {exc}"[:200])
        if arr.dtype.kind in "OSU":  # tf.string: the values are compared
            # (a 0-d tf.string's numpy() is bytes, which becomes an "S" array)
            return _object_array(arr.astype(object), depth)
        return ArrayLeaf.from_numpy(arr, name)
    if isinstance(obj, dict):
        return MapNode(tuple((str(k), to_node(v, depth + 1)) for k, v in obj.items()))
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return SeqNode(f"namedtuple:{type(obj).__name__}",
                       tuple(to_node(v, depth + 1) for v in obj))
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return SeqNode(kind, tuple(to_node(v, depth + 1) for v in obj))
    mod = type(obj).__module__
    if mod.startswith("torch") and type(obj).__name__ == "Size":
        return SeqNode("tuple", tuple(ScalarLeaf(int(v)) for v in obj))
    if mod.startswith("torch.return_types") or (mod.startswith("torch") and
                                                hasattr(obj, "n_fields")):
        return SeqNode(f"namedtuple:{type(obj).__name__}",
                       tuple(to_node(v, depth + 1) for v in tuple(obj)))
    if mod.startswith("tensorflow") and type(obj).__name__ == "TensorShape":
        dims = obj.as_list() if obj.rank is not None else None
        return OpaqueLeaf("TensorShape", str(dims))
    return OpaqueLeaf(f"{mod}.{type(obj).__qualname__}", repr(obj)[:200])
