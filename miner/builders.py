"""Tensor builders and the cheap tensor transformations the miner follows.

``torch.randn(3, 4)``, ``tf.constant([[1., 2.]])``, ``np.arange(6)`` become
:class:`~miner.records.TensorSpec` values; ``x.T``, ``x.float()``,
``x.view(2, 3)``, ``x.permute(1, 0)`` on a known spec give a new spec.  Both
work on record values only (no framework is imported), keyed by canonical
API names.
"""

from __future__ import annotations

import math
from typing import Any, Optional

from miner.apiindex.names import canonical_to_path
from miner.records import (
    ApiRef,
    Arange,
    Constructed,
    Data,
    DType,
    Empty,
    Eye,
    Fill,
    IntRange,
    Layout,
    LayoutKind,
    Linspace,
    Literal,
    Normal,
    Seq,
    TensorSpec,
    Uniform,
    Unknown,
    Value,
)

__all__ = ["MAX_DATA", "build_tensor", "transform_tensor", "int_tuple", "nested_data"]

#: Literal tensor contents larger than this are not kept as data.
MAX_DATA = 1024

_UNBOUND = object()

def int_tuple(v: Value) -> Optional[tuple[Optional[int], ...]]:
    """A shape from a Seq of ints/unknowns or a single int; None otherwise."""
    if isinstance(v, Literal) and type(v.value) is int and v.value >= 0:
        return (v.value,)
    if isinstance(v, Seq):
        dims: list[Optional[int]] = []
        for x in v.items:
            if isinstance(x, Literal) and type(x.value) is int and x.value >= 0:
                dims.append(x.value)
            elif isinstance(x, Unknown):
                dims.append(None)
            else:
                return None
        return tuple(dims)
    return None


def nested_data(v: Value) -> Optional[tuple[tuple[int, ...], list]]:
    """(shape, flat values) of a rectangular nest of scalar literals."""
    if isinstance(v, Literal):
        if isinstance(v.value, (bool, int, float, complex)):
            return (), [v.value]
        return None
    if isinstance(v, Seq):
        if not v.items:
            return (0,), []
        parts = [nested_data(x) for x in v.items]
        if any(p is None for p in parts):
            return None
        shape0 = parts[0][0]  # type: ignore[index]
        if any(p[0] != shape0 for p in parts):  # type: ignore[index]
            return None
        flat: list = []
        for p in parts:
            flat.extend(p[1])  # type: ignore[index]
            if len(flat) > MAX_DATA:
                return None
        return (len(parts),) + shape0, flat
    return None


def _infer_dtype(values: list, framework: str) -> str:
    kinds = {type(x) for x in values}
    if not kinds or kinds <= {bool}:
        return "bool" if kinds else ("float32" if framework != "numpy" else "float64")
    if complex in kinds:
        return {"torch": "complex64", "tensorflow": "complex128"}.get(framework, "complex128")
    if float in kinds:
        return "float64" if framework == "numpy" else "float32"
    return "int32" if framework == "tensorflow" else "int64"



# ---------------------------------------------------------------------------


def _kwarg(kwargs: tuple, name: str) -> Optional[Value]:
    for k, v in kwargs:
        if k == name:
            return v
    return None


def _dtype_name(v: Optional[Value], framework: str) -> Optional[str]:
    """Dtype name from a dtype argument, or None when absent/unknown."""
    if v is None:
        return None
    if isinstance(v, DType):
        if v.framework == "python":
            return {"float": "float64" if framework in ("numpy", "torch") else "float32",
                    "int": "int64" if framework != "tensorflow" else "int32",
                    "bool": "bool", "complex": "complex128"}[v.name]
        return v.name
    if isinstance(v, Literal) and isinstance(v.value, str):
        return v.value
    return None


_TORCH_FLOAT_DEFAULT = "float32"


def _size_args(args: tuple) -> Optional[tuple[Optional[int], ...]]:
    """``f(2, 3)``, ``f((2, 3))``, ``f([2, 3])``, ``f(torch.Size([2, 3]))``."""
    if len(args) == 1:
        a = args[0]
        if isinstance(a, Constructed) and a.api == "torch.Size" and len(a.args) == 1:
            a = a.args[0]
        shape = int_tuple(a)
        if shape is not None:
            return shape
        if isinstance(a, Literal) and type(a.value) is int:
            return None
        return None
    dims: list[Optional[int]] = []
    for a in args:
        if isinstance(a, Literal) and type(a.value) is int and a.value >= 0:
            dims.append(a.value)
        elif isinstance(a, Unknown):
            dims.append(None)
        else:
            return None
    return tuple(dims)


def _num(v: Optional[Value]) -> Any:
    if isinstance(v, Literal) and isinstance(v.value, (int, float)) and not isinstance(
            v.value, bool):
        return v.value
    return _UNBOUND


def _bind(args: tuple, kwargs: tuple, names: tuple[str, ...]) -> Optional[dict]:
    """Bind positional args to ``names``, then keywords; None on surplus."""
    if len(args) > len(names):
        return None
    out = dict(zip(names, args))
    for k, v in kwargs:
        if k in out and k in names[: len(args)]:
            return None
        out[k] = v
    return out


def _spec(fw: str, shape: Optional[tuple], dtype: Optional[str], init: Any,
          requires_grad: Optional[Value] = None) -> Optional[TensorSpec]:
    if shape is None or dtype is None:
        return None
    try:
        return TensorSpec(fw, tuple(shape), dtype, init,
                          requires_grad=isinstance(requires_grad, Literal) and
                          requires_grad.value is True)
    except ValueError:
        return None


def _data_spec(fw: str, data: Value, dtype: Optional[str]) -> Optional[TensorSpec]:
    nd = nested_data(data)
    if nd is None:
        return None
    shape, flat = nd
    if not flat and shape == (0,):
        return _spec(fw, shape, dtype or ("float64" if fw == "numpy" else "float32"), Fill(0))
    return _spec(fw, shape, dtype or _infer_dtype(flat, fw), Data(tuple(flat)))


def _build_torch(name: str, args: tuple, kwargs: tuple) -> Optional[TensorSpec]:
    dt = _dtype_name(_kwarg(kwargs, "dtype"), "torch")
    rg = _kwarg(kwargs, "requires_grad")
    if name in ("randn", "rand", "zeros", "ones", "empty"):
        shape = _size_args(args) if args else int_tuple(_kwarg(kwargs, "size") or Seq("tuple", ()))
        init = {"randn": Normal(), "rand": Uniform(), "zeros": Fill(0), "ones": Fill(1),
                "empty": Empty()}[name]
        return _spec("torch", shape, dt or _TORCH_FLOAT_DEFAULT, init, rg)
    if name == "full":
        b = _bind(args, kwargs, ("size", "fill_value"))
        if b is None or "size" not in b or "fill_value" not in b:
            return None
        fv = b["fill_value"]
        if not isinstance(fv, Literal) or not isinstance(fv.value, (bool, int, float)):
            return None
        return _spec("torch", int_tuple(b["size"]), dt or _infer_dtype([fv.value], "torch"),
                     Fill(fv.value), rg)
    if name == "randint":
        ints = [a for a in args if not isinstance(a, Seq)]
        size = next((a for a in args if isinstance(a, Seq)), _kwarg(kwargs, "size"))
        low, high = 0, _UNBOUND
        if len(ints) == 1:
            high = _num(ints[0])
        elif len(ints) == 2:
            low, high = _num(ints[0]), _num(ints[1])
        if _kwarg(kwargs, "high") is not None:
            high = _num(_kwarg(kwargs, "high"))
        if _kwarg(kwargs, "low") is not None:
            low = _num(_kwarg(kwargs, "low"))
        if type(low) is not int or type(high) is not int or size is None or high <= low:
            return None
        return _spec("torch", int_tuple(size), dt or "int64", IntRange(low, high))
    if name == "arange":
        b = _bind(args, kwargs, ("start", "end", "step") if len(args) >= 2 else ("end",))
        if b is None:
            return None
        start, end, step = _num(b.get("start", Literal(0))), _num(b.get("end")), _num(
            b.get("step", Literal(1)))
        if _UNBOUND in (start, end, step) or step == 0:
            return None
        n = max(0, math.ceil((end - start) / step))
        if n > 10**7:
            return None
        isint = all(type(x) is int for x in (start, end, step))
        return _spec("torch", (n,), dt or ("int64" if isint else "float32"), Arange(start, step), rg)
    if name == "linspace":
        b = _bind(args, kwargs, ("start", "end", "steps"))
        if b is None:
            return None
        start, end, steps = _num(b.get("start")), _num(b.get("end")), _num(b.get("steps"))
        if _UNBOUND in (start, end, steps) or type(steps) is not int or steps < 0:
            return None
        return _spec("torch", (steps,), dt or "float32", Linspace(float(start), float(end)), rg)
    if name == "eye":
        b = _bind(args, kwargs, ("n", "m"))
        if b is None:
            return None
        n = _num(b.get("n"))
        m = _num(b.get("m", b.get("n")))
        if type(n) is not int or type(m) is not int:
            return None
        return _spec("torch", (n, m), dt or "float32", Eye(), rg)
    if name in ("tensor", "as_tensor"):
        if not args:
            return None
        s = _data_spec("torch", args[0], dt)
        if s is not None and rg is not None:
            s = _spec("torch", s.shape, s.dtype, s.init, rg)
        if s is None and isinstance(args[0], TensorSpec):
            return _retag(args[0], "torch", dt)
        return s
    if name == "from_numpy" and args and isinstance(args[0], TensorSpec):
        return _retag(args[0], "torch", None)
    if name in ("randn_like", "rand_like", "zeros_like", "ones_like", "empty_like", "full_like"):
        if not args or not isinstance(args[0], TensorSpec):
            return None
        src = args[0]
        init: Any = {"randn_like": Normal(), "rand_like": Uniform(), "zeros_like": Fill(0),
                     "ones_like": Fill(1), "empty_like": Empty()}.get(name)
        if name == "full_like":
            fv = args[1] if len(args) > 1 else _kwarg(kwargs, "fill_value")
            if not isinstance(fv, Literal):
                return None
            init = Fill(fv.value)
        return _spec("torch", src.shape, dt or src.dtype, init, rg)
    return None


def _build_tf(name: str, args: tuple, kwargs: tuple) -> Optional[TensorSpec]:
    if name in ("constant", "convert_to_tensor"):
        b = _bind(args, kwargs, ("value", "dtype", "shape"))
        if b is None or "value" not in b:
            return None
        dt = _dtype_name(b.get("dtype"), "tensorflow")
        shape = int_tuple(b["shape"]) if b.get("shape") is not None else None
        v = b["value"]
        if shape is not None and isinstance(v, Literal) and isinstance(v.value,
                                                                       (bool, int, float)):
            return _spec("tensorflow", shape, dt or _infer_dtype([v.value], "tensorflow"),
                         Fill(v.value))
        if isinstance(v, TensorSpec):
            return _retag(v, "tensorflow", dt)
        s = _data_spec("tensorflow", v, dt)
        if s is not None and shape is not None and s.numel == math.prod(
                d for d in shape if d is not None) and None not in shape:
            return _spec("tensorflow", shape, s.dtype, s.init)
        return s
    if name in ("zeros", "ones"):
        b = _bind(args, kwargs, ("shape", "dtype"))
        if b is None or "shape" not in b:
            return None
        dt = _dtype_name(b.get("dtype"), "tensorflow") or "float32"
        return _spec("tensorflow", int_tuple(b["shape"]), dt,
                     Fill(0) if name == "zeros" else Fill(1))
    if name == "fill":
        b = _bind(args, kwargs, ("dims", "value"))
        if b is None or "value" not in b or "dims" not in b:
            return None
        v = b["value"]
        if not isinstance(v, Literal) or not isinstance(v.value, (bool, int, float)):
            return None
        return _spec("tensorflow", int_tuple(b["dims"]), _infer_dtype([v.value], "tensorflow"),
                     Fill(v.value))
    if name in ("random.normal", "random.uniform", "random.truncated_normal"):
        names = ("shape", "mean", "stddev", "dtype") if name != "random.uniform" else (
            "shape", "minval", "maxval", "dtype")
        b = _bind(args, kwargs, names)
        if b is None or "shape" not in b:
            return None
        dt = _dtype_name(b.get("dtype"), "tensorflow") or "float32"
        if name == "random.uniform":
            lo = _num(b.get("minval", Literal(0)))
            hi = _num(b.get("maxval", Literal(1))) if b.get("maxval") is not None else 1
            if _UNBOUND in (lo, hi):
                return None
            init: Any = IntRange(int(lo), int(hi)) if dt.startswith(("int", "uint")) else \
                Uniform(float(lo), float(hi))
        else:
            mean, std = _num(b.get("mean", Literal(0.0))), _num(b.get("stddev", Literal(1.0)))
            if _UNBOUND in (mean, std):
                return None
            init = Normal(float(mean), float(std))
        return _spec("tensorflow", int_tuple(b["shape"]), dt, init)
    if name == "range":
        b = _bind(args, kwargs, ("start", "limit", "delta") if len(args) >= 2 else ("limit",))
        if b is None:
            return None
        start, limit, delta = _num(b.get("start", Literal(0))), _num(b.get("limit")), _num(
            b.get("delta", Literal(1)))
        if _UNBOUND in (start, limit, delta) or delta == 0:
            return None
        n = max(0, math.ceil((limit - start) / delta))
        isint = all(type(x) is int for x in (start, limit, delta))
        dt = _dtype_name(_kwarg(kwargs, "dtype"), "tensorflow")
        return _spec("tensorflow", (n,), dt or ("int32" if isint else "float32"),
                     Arange(start, delta))
    if name == "eye":
        b = _bind(args, kwargs, ("num_rows", "num_columns"))
        if b is None:
            return None
        n = _num(b.get("num_rows"))
        m = _num(b.get("num_columns", b.get("num_rows")))
        if type(n) is not int or type(m) is not int:
            return None
        return _spec("tensorflow", (n, m), _dtype_name(_kwarg(kwargs, "dtype"), "tensorflow")
                     or "float32", Eye())
    if name == "linspace":
        b = _bind(args, kwargs, ("start", "stop", "num"))
        if b is None:
            return None
        start, stop, num = _num(b.get("start")), _num(b.get("stop")), _num(b.get("num"))
        if _UNBOUND in (start, stop, num) or type(num) is not int or num < 0:
            return None
        return _spec("tensorflow", (num,), "float32", Linspace(float(start), float(stop)))
    if name in ("zeros_like", "ones_like") and args and isinstance(args[0], TensorSpec):
        src = args[0]
        return _spec("tensorflow", src.shape, src.dtype, Fill(0 if name == "zeros_like" else 1))
    return None


def _build_numpy(name: str, args: tuple, kwargs: tuple) -> Optional[TensorSpec]:
    dt = _dtype_name(_kwarg(kwargs, "dtype"), "numpy")
    if name in ("array", "asarray"):
        if not args:
            return None
        if len(args) > 1:
            dt = _dtype_name(args[1], "numpy") or dt
        if isinstance(args[0], TensorSpec):
            return _retag(args[0], "numpy", dt)
        return _data_spec("numpy", args[0], dt)
    if name in ("zeros", "ones", "empty"):
        if not args:
            return None
        if len(args) > 1:
            dt = _dtype_name(args[1], "numpy") or dt
        init = {"zeros": Fill(0), "ones": Fill(1), "empty": Empty()}[name]
        return _spec("numpy", int_tuple(args[0]), dt or "float64", init)
    if name == "full":
        if len(args) < 2 or not isinstance(args[1], Literal):
            return None
        return _spec("numpy", int_tuple(args[0]), dt or _infer_dtype([args[1].value], "numpy"),
                     Fill(args[1].value))
    if name in ("random.randn", "random.rand"):
        return _spec("numpy", _size_args(args) if args else (), "float64",
                     Normal() if name == "random.randn" else Uniform())
    if name in ("random.random", "random.random_sample"):
        b = _bind(args, kwargs, ("size",))
        size = b.get("size") if b else None
        return _spec("numpy", int_tuple(size) if size is not None else (), "float64", Uniform())
    if name in ("random.normal", "random.uniform"):
        names = ("loc", "scale", "size") if name == "random.normal" else ("low", "high", "size")
        b = _bind(args, kwargs, names)
        if b is None or b.get("size") is None:
            return None
        p0 = _num(b.get(names[0], Literal(0.0)))
        p1 = _num(b.get(names[1], Literal(1.0)))
        if _UNBOUND in (p0, p1):
            return None
        init: Any = Normal(float(p0), float(p1)) if name == "random.normal" else Uniform(
            float(p0), float(p1))
        return _spec("numpy", int_tuple(b["size"]), "float64", init)
    if name == "random.randint":
        b = _bind(args, kwargs, ("low", "high", "size"))
        if b is None:
            return None
        low, high = _num(b.get("low")), b.get("high")
        if high is None:
            low, high = 0, low
        else:
            high = _num(high)
        if type(low) is not int or type(high) is not int or high <= low:
            return None
        size = b.get("size")
        return _spec("numpy", int_tuple(size) if size is not None else (), dt or "int64",
                     IntRange(low, high))
    if name == "arange":
        nums = [_num(a) for a in args]
        if not nums or _UNBOUND in nums or len(nums) > 3:
            return None
        start, stop, step = (0, nums[0], 1) if len(nums) == 1 else (
            nums[0], nums[1], nums[2] if len(nums) == 3 else 1)
        if step == 0:
            return None
        n = max(0, math.ceil((stop - start) / step))
        if n > 10**7:
            return None
        isint = all(type(x) is int for x in (start, stop, step))
        return _spec("numpy", (n,), dt or ("int64" if isint else "float64"), Arange(start, step))
    if name == "eye":
        n = _num(args[0]) if args else _UNBOUND
        if type(n) is not int:
            return None
        return _spec("numpy", (n, n), dt or "float64", Eye())
    if name == "linspace":
        b = _bind(args, kwargs, ("start", "stop", "num"))
        if b is None:
            return None
        start, stop = _num(b.get("start")), _num(b.get("stop"))
        num = _num(b.get("num", Literal(50)))
        if _UNBOUND in (start, stop, num) or type(num) is not int:
            return None
        return _spec("numpy", (num,), dt or "float64", Linspace(float(start), float(stop)))
    return None


def _retag(src: TensorSpec, fw: str, dtype: Optional[str]) -> Optional[TensorSpec]:
    """The same contents as a tensor of another framework."""
    try:
        return TensorSpec(fw, src.shape, dtype or src.dtype, src.init,
                          src.layout if fw == "torch" and src.framework == "torch" else Layout())
    except ValueError:
        return None


def build_tensor(api: str, args: tuple, kwargs: tuple) -> Optional[TensorSpec]:
    """The tensor spec a tensor-builder call makes, or None if ``api`` is not
    a builder or its arguments are not all known."""
    root, _, name = canonical_to_path(api).partition(".")
    build = _BUILDERS.get(root)
    return build(name, args, kwargs) if build is not None and name else None


#: Builders by the module a canonical name is imported from.
_BUILDERS = {"torch": _build_torch, "tensorflow": _build_tf, "numpy": _build_numpy}


_CAST_METHODS = {
    "float": "float32", "double": "float64", "half": "float16", "bfloat16": "bfloat16",
    "long": "int64", "int": "int32", "short": "int16", "char": "int8", "byte": "uint8",
    "bool": "bool", "cfloat": "complex64", "cdouble": "complex128",
}
_SAME_METHODS = frozenset({"clone", "detach", "cpu", "cuda", "contiguous_", "copy"})
_VALUE_INDEPENDENT = (Normal, Uniform, IntRange, Fill, Empty)


def _perm_spec(src: TensorSpec, perm: tuple[int, ...]) -> Optional[TensorSpec]:
    """``src.permute(perm)`` as a spec (only for specs whose values do not
    depend on position, or that are contiguous)."""
    n = len(src.shape)
    if sorted(perm) != list(range(n)):
        return None
    if src.layout.kind is LayoutKind.CONTIGUOUS:
        base_perm = tuple(range(n))
    elif src.layout.kind is LayoutKind.PERMUTED:
        base_perm = src.layout.dims
    else:
        return None
    new_perm = tuple(base_perm[p] for p in perm)
    shape = tuple(src.shape[p] for p in perm)
    layout = Layout() if new_perm == tuple(range(n)) else Layout(LayoutKind.PERMUTED, new_perm)
    try:
        return TensorSpec(src.framework, shape, src.dtype, src.init, layout, src.requires_grad)
    except ValueError:
        return None


def transform_tensor(v: Value, method: str, args: tuple, kwargs: tuple) -> Optional[Value]:
    """The spec of ``v.method(*args, **kwargs)`` for the cheap, shape-known
    transformations the miner follows; None for everything else."""
    if not isinstance(v, TensorSpec):
        return None
    fw = v.framework
    if method in _CAST_METHODS and not args and not kwargs and fw == "torch":
        return _with(v, dtype=_CAST_METHODS[method])
    if method in ("to", "type", "astype"):
        dt = None
        for a in args:
            dt = dt or (_dtype_name(a, fw) if isinstance(a, DType) else None)
        dt = dt or _dtype_name(_kwarg(kwargs, "dtype"), fw)
        if method == "astype" and args:
            dt = _dtype_name(args[0], fw)
        if dt is None:
            only_device = all(isinstance(a, Literal) and isinstance(a.value, str) for a in args)
            return v if only_device and method == "to" else None
        return _with(v, dtype=dt)
    if method in _SAME_METHODS and not args:
        return v
    if method == "requires_grad_" and fw == "torch":
        flag = args[0] if args else _kwarg(kwargs, "requires_grad") or Literal(True)
        if isinstance(flag, Literal) and isinstance(flag.value, bool):
            return _with(v, requires_grad=flag.value)
        return None
    if method == "numpy" and fw == "torch" and not args:
        return _retag(v, "numpy", None)
    if method in ("T", "mT", "t") and not args:
        n = len(v.shape)
        if method == "t" and n > 2:
            return None
        if method == "mT":
            if n < 2:
                return None
            perm = tuple(range(n - 2)) + (n - 1, n - 2)
        else:
            perm = tuple(reversed(range(n)))
        return _perm_spec(v, perm) if n >= 2 else v
    if method == "permute":
        dims = _size_args(args) if args else int_tuple(_kwarg(kwargs, "dims") or Seq("tuple", ()))
        n = len(v.shape)
        if dims is None or None in dims:
            dims_neg = [_num(a) for a in args]
            if _UNBOUND in dims_neg:
                return None
            dims = tuple(d % n if n else d for d in dims_neg)
        return _perm_spec(v, tuple(dims))  # type: ignore[arg-type]
    if method in ("transpose", "swapaxes", "swapdims") and len(args) == 2:
        a, b = _num(args[0]), _num(args[1])
        n = len(v.shape)
        if type(a) is not int or type(b) is not int or not n or not (-n <= a < n and -n <= b < n):
            return None
        perm = list(range(n))
        perm[a % n], perm[b % n] = perm[b % n], perm[a % n]
        return _perm_spec(v, tuple(perm))
    if method in ("view", "reshape") and args:
        if v.layout.kind is not LayoutKind.CONTIGUOUS and not isinstance(v.init,
                                                                           _VALUE_INDEPENDENT):
            return None
        if len(args) == 1 and isinstance(args[0], DType):
            return None  # view(dtype): a reinterpretation
        raw = args[0] if len(args) == 1 else Seq("tuple", args)
        if isinstance(raw, Literal):
            raw = Seq("tuple", (raw,))
        if not isinstance(raw, Seq):
            return None
        dims = [_num(a) for a in raw.items]
        if _UNBOUND in dims or any(type(d) is not int for d in dims):
            return None
        numel = v.numel
        if dims.count(-1) == 1 and numel is not None:
            known = math.prod(d for d in dims if d != -1)
            if known == 0 or numel % known:
                return None
            dims[dims.index(-1)] = numel // known
        if any(d < 0 for d in dims) or (numel is not None and math.prod(dims) != numel):
            return None
        return _with(v, shape=tuple(dims), layout=Layout())
    if method in ("unsqueeze",) and len(args) == 1 and v.layout.kind is LayoutKind.CONTIGUOUS:
        d = _num(args[0])
        n = len(v.shape)
        if type(d) is not int or not -n - 1 <= d <= n:
            return None
        d = d % (n + 1)
        return _with(v, shape=v.shape[:d] + (1,) + v.shape[d:])
    if method == "expand" and args and isinstance(v.init, _VALUE_INDEPENDENT) \
            and v.layout.kind is LayoutKind.CONTIGUOUS:
        sizes = _size_args(args)
        if sizes is None or None in sizes or len(sizes) < len(v.shape) or None in v.shape:
            return None
        lead = len(sizes) - len(v.shape)
        shape, expanded = [], []
        for i, s in enumerate(sizes):
            old = v.shape[i - lead] if i >= lead else 1
            new = old if s == -1 else s
            if old != new and old != 1:
                return None
            if old == 1 and new != 1:
                expanded.append(i)
            shape.append(new)
        if not expanded:
            return _with(v, shape=tuple(shape))
        return _with(v, shape=tuple(shape), layout=Layout(LayoutKind.EXPANDED, tuple(expanded)))
    if method == "contiguous" and not args and kwargs:
        fmt = _kwarg(kwargs, "memory_format")
        if (isinstance(fmt, ApiRef) and fmt.api == "torch.channels_last" and len(v.shape) == 4
                and isinstance(v.init, _VALUE_INDEPENDENT)
                and v.layout.kind is LayoutKind.CONTIGUOUS):
            return _with(v, layout=Layout(LayoutKind.CHANNELS_LAST))
        return None
    if method == "contiguous" and not args:
        if v.layout.kind is LayoutKind.CONTIGUOUS:
            return v
        if isinstance(v.init, _VALUE_INDEPENDENT):
            return _with(v, layout=Layout())
        return None
    return None


def _with(v: TensorSpec, **changes: Any) -> Optional[TensorSpec]:
    fields = {"framework": v.framework, "shape": v.shape, "dtype": v.dtype, "init": v.init,
              "layout": v.layout, "requires_grad": v.requires_grad}
    fields.update(changes)
    try:
        return TensorSpec(**fields)
    except ValueError:
        return None


