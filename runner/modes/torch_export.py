"""torch export modes: ``torch.export``, AOTInductor and ONNX.

Each mode exports the call's function once per argument signature, from the
first call's inputs (:class:`~runner.modes.base.Exported`), and runs the
artifact for every case of that signature: the cache key includes every
tensor's dtype, shape, strides and device and the values of the non-tensor
arguments (see ``runner.call``), so the artifact is always fed inputs laid
out as the ones it was exported from.  The steps are tagged with their stage
(export, decompose, compile, convert, load, session, run), which
observations show as ``[stage]``.

The function handed to a mode takes the call's tensors positionally (module
parameters first) and binds everything else inside itself; it is exported
as the ``forward`` of a small ``nn.Module`` (:func:`_ptx_export`), with
``torch.export.export(..., strict=False)``.

torch and the runtimes (onnx, onnxscript, onnxruntime) are imported inside
the methods that need them, so the parent process reads the declarations
without them.  This module is embedded verbatim in reproducers: its
top-level names must not clash with the other embedded modules' (hence the
``_ptx`` prefixes), and it imports no other mode module.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import shutil
import tempfile
import warnings
from typing import Any, Callable, ClassVar, Optional

import numpy as np

from infra.dtypes import is_torch_bitcast, same_width_int, storage_dtype
from runner.modes.base import (
    ExportRefusal,
    Exported,
    Mode,
    ModeSpec,
    ModeUsageError,
    Option,
    Stage,
    import_dotted,
    limit_in,
    root_causes,
    stage,
    stage_of,
)

__all__ = ["TorchAoti", "TorchExport", "TorchOnnx"]

_PTX_DEVICE = Option("choice", "where tensors live, the export is made and the artifact runs",
                     ("cpu", "cuda"))

#: ONNX element types of the torch dtypes numpy lacks (fed to onnxruntime
#: through their bits).
_PTX_ONNX_BITCAST = {"bfloat16": 16, "float8_e4m3fn": 17, "float8_e4m3fnuz": 18,
                     "float8_e5m2": 19, "float8_e5m2fnuz": 20, "float8_e8m0fnu": 24}

#: What AOTInductor says when the exported program's output structure
#: cannot be serialized into its package.
_PTX_AOTI_LIMITS = (
    # A torch.return_types namedtuple (sort, topk, max with dim): its pytree
    # node has no serialized name.  The mode returns a flat tuple from the
    # exported function (see TorchAoti), so this should not happen; it is
    # still a limit of the package format where it does.
    ("No registered serialization name for <class 'torch.return_types.",
     "an output structure AOTInductor cannot serialize"),
)

#: What onnxruntime says when it lacks a kernel for an op of the model.
_PTX_ORT_LIMITS = (
    # A kernel missing for this op at this dtype (bfloat16 Add and MatMul).
    ("Could not find an implementation for", "an op or dtype onnxruntime does not implement"),
    # A tensor type onnxruntime has no values for (complex graph inputs).
    ("is not currently registered or supported", "a tensor type onnxruntime does not support"),
)

#: What onnx's ReferenceEvaluator says when it has no implementation of an op.
_PTX_REFERENCE_LIMITS = (
    ("No registered implementation for operator", "an op the ONNX reference does not implement"),
    ("No registered schema for operator", "an op the ONNX reference does not know"),
    ("is unknown, known functions", "an op the ONNX reference does not know"),
)


def _ptx_onnx_conversion_limit(exc: BaseException) -> Optional[str]:
    """The ONNX exporter's ConversionError ("Failed to convert the exported
    program") when its cause is an op the exporter has no function for
    (``DispatchError``: "No ONNX function found for <OpOverload ...>") or
    one whose function refuses these arguments (a ``NotImplementedError``:
    "aten_histc with min == max ... is not supported in this export path");
    any other cause (a function that crashes) is the exporter's failure."""
    chain = root_causes(exc)
    if not any(type(e).__name__ == "ConversionError" and
               "Failed to convert the exported program" in str(e) for e in chain):
        return None
    for e in chain:
        if type(e).__name__ == "DispatchError":
            return "an op the ONNX exporter cannot convert"
        if isinstance(e, NotImplementedError):
            return "arguments the ONNX exporter does not support"
    return None


def _ptx_capture_limit(exc: BaseException) -> Optional[str]:
    """torch.export's capture stopping at a tensor's value (a ``dim`` given
    as a tensor, ``.item()`` steering shapes): it specializes no value of an
    input, by design, as ``torch.compile(fullgraph=True)`` declares
    data-dependent control flow.  Only at the export stage."""
    if stage_of(exc) != "export":
        return None
    for e in root_causes(exc):
        if "in output, which is not a known type" in str(e):
            # A call that returns an object, a module say: an exported
            # program returns tensors (and constants) only.
            return "an output that is not tensors (torch.export returns tensors)"
        if type(e).__name__ in ("GuardOnDataDependentSymNode", "DataDependentOutputException") \
                or (type(e).__name__ == "UserError" and "data-dependent" in str(e)):
            return "a data-dependent value torch.export does not specialize"
    return None


@contextlib.contextmanager
def _ptx_quiet() -> Any:
    """Swallow what the exporters print to stdout (the ONNX exporter's
    progress lines) and the warnings they raise about their own internals
    (torch 2.13's FutureWarning on ``LeafSpec`` while decomposing), which
    ``-W error`` would turn into failures of the mode; the artifact runs
    outside, so the call's own warnings are untouched."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


class _PtxFlat:
    """The call as a function of flat outputs, and back: see Note [Flat
    outputs across a serialized boundary].

    Note [Flat outputs across a serialized boundary]
        An AOTInductor package and an ONNX graph return a flat list of
        tensors, so the function they are made from returns the call's
        pytree leaves that are tensors, or scalars computed from tensors
        (``.item()``: a symbolic int, float or bool while tracing), as a
        flat tuple; the eager structure is rebuilt from the pytree spec
        recorded while tracing.  Other leaves (``x.dim()``, a shape, None)
        are constants of the exported program, as ``ep.module()`` returns
        them, and are kept from the trace.  Flattening also keeps a
        ``torch.return_types`` namedtuple (``torch.sort``, ``torch.topk``)
        out of the package: AOTInductor cannot serialize its pytree node
        ("No registered serialization name"), which says nothing about the
        compiled code.
    """

    def __init__(self, fn: Callable) -> None:
        self._fn = fn
        self._spec: Any = None
        #: Per leaf: None (a tensor output), int/float/bool (a scalar
        #: output), or a 1-tuple holding the constant.
        self._kinds: list = []
        #: Per output: whether it is a complex tensor.
        self.complex: list[bool] = []

    def __call__(self, *xs: Any) -> tuple:
        import torch
        from torch.utils import _pytree as pytree

        leaves, self._spec = pytree.tree_flatten(self._fn(*xs))
        kinds: list = []
        outs: list = []
        scalars = {torch.SymInt: int, torch.SymFloat: float, torch.SymBool: bool}
        for leaf in leaves:
            if isinstance(leaf, torch.Tensor):
                kinds.append(None)
                outs.append(leaf)
            elif type(leaf) in scalars:
                kinds.append(scalars[type(leaf)])
                outs.append(leaf)
            else:
                kinds.append((leaf,))
        self._kinds = kinds
        self.complex = [isinstance(o, torch.Tensor) and o.is_complex() for o in outs]
        return tuple(outs)

    @property
    def traced(self) -> bool:
        return self._spec is not None

    @property
    def n_outputs(self) -> int:
        return len(self.complex)

    def restore(self, outs: Any) -> Any:
        """The eager structure with ``outs`` (tensors, in output order)."""
        import torch
        from torch.utils import _pytree as pytree

        outs = list(outs)
        if len(outs) != self.n_outputs:
            raise RuntimeError(f"the artifact returned {len(outs)} outputs, the exported "
                               f"function {self.n_outputs}")
        it = iter(outs)
        leaves = []
        for kind in self._kinds:
            if kind is None:
                leaves.append(next(it))
            elif isinstance(kind, tuple):
                leaves.append(kind[0])
            else:
                value = next(it)
                leaves.append(kind(value.item() if isinstance(value, torch.Tensor) else value))
        return pytree.tree_unflatten(leaves, self._spec)


def _ptx_export(fn: Callable, args: tuple, flat: Optional[_PtxFlat] = None) -> Any:
    """``torch.export.export(module, args, strict=False)`` of a module whose
    ``forward`` calls ``fn`` (or ``flat``, which wraps it)."""
    import torch

    call = flat if flat is not None else fn

    class _PtxCall(torch.nn.Module):
        def forward(self, *xs: Any) -> Any:
            return call(*xs)

    with stage("export"), _ptx_quiet():
        ep = torch.export.export(_PtxCall().eval(), tuple(args), strict=False)
        if flat is not None and not flat.traced:
            raise RuntimeError("torch.export did not run the function's forward in Python")
    return ep


def _ptx_cuda_missing() -> Optional[str]:
    import torch

    return None if torch.cuda.is_available() else "no CUDA device on this machine"


def _ptx_device_rungs(spec: ModeSpec) -> list[Stage]:
    """torch eager on the target's device first, off the CPU (so a device
    bug is not blamed on an exporter)."""
    if spec.device == "cpu":
        return []
    return [Stage("device", ModeSpec("torch.eager", "torch", (("device", spec.device),)))]


def _ptx_capture_rungs(spec: ModeSpec) -> list[Stage]:
    """The rungs every path after torch.export shares: the device rung,
    torch.export's capture (``export``), then its decompositions
    (``decomposition``), so that neither is blamed on what comes after."""
    device = (("device", spec.device),) if spec.device != "cpu" else ()
    return [*_ptx_device_rungs(spec),
            Stage("export", ModeSpec("torch.export", "torch", device)),
            Stage("decomposition", ModeSpec("torch.export", "torch",
                                            tuple(sorted((*device, ("decompose", "true"))))))]


class _TorchExportMode(Mode):
    """What the export modes share: the device option, the device rung of
    the ladder and the export-once callable."""

    framework = "torch"
    options: ClassVar[dict[str, Option]] = {"device": _PTX_DEVICE}
    devices = ("cpu", "cuda")

    def unavailable(self) -> Optional[str]:
        if self.device == "cuda":
            return _ptx_cuda_missing()
        return None

    def build(self, fn: Callable) -> Callable:
        return Exported(lambda args: self.export(fn, args))

    def export(self, fn: Callable, args: tuple) -> Callable:
        """Export ``fn`` for ``args``'s signature; the function that runs
        the artifact."""
        raise NotImplementedError

    def declared_limit(self, exc: BaseException) -> Optional[str]:
        return _ptx_capture_limit(exc)


class TorchExport(_TorchExportMode):
    """``torch.export.export`` (non-strict) and the exported program's
    ``module()`` called; with ``decompose=true`` the program after
    ``run_decompositions()`` (the core ATen opset).  ``module()`` checks
    the inputs' shapes, not their dtypes or strides; the signature cache
    feeds it the export-time layout anyway."""

    name = "torch.export"
    options: ClassVar[dict[str, Option]] = {
        "device": _PTX_DEVICE,
        "decompose": Option("bool", "run the exported program's decompositions (default false)"),
    }
    summary = "torch.export.export and ep.module() (export once per signature)"

    @classmethod
    def stage_name(cls, spec: ModeSpec) -> str:
        return "decomposition" if spec.option("decompose").lower() == "true" else "export"

    @classmethod
    def ladder(cls, spec: ModeSpec) -> tuple[Stage, ...]:
        rungs = _ptx_device_rungs(spec)
        if cls.stage_name(spec) == "decomposition":
            plain = spec.replace(decompose=None)
            rungs.append(Stage(cls.stage_name(plain), plain))
        rungs.append(Stage(cls.stage_name(spec), spec))
        return tuple(rungs)

    def __init__(self, spec: ModeSpec) -> None:
        super().__init__(spec)
        self.decompose = spec.option("decompose").lower() == "true"

    def export(self, fn: Callable, args: tuple) -> Callable:
        ep = _ptx_export(fn, args)
        if self.decompose:
            with stage("decompose"), _ptx_quiet():
                ep = ep.run_decompositions()
        with stage("load"), _ptx_quiet():
            return ep.module()


class TorchAoti(_TorchExportMode):
    """AOTInductor: the call exported (``torch.export``), compiled and
    packaged by ``torch._inductor.aoti_compile_and_package`` into a fresh
    temporary folder, loaded with ``aoti_load_package`` and called.

    The packaged function returns flat outputs (Note [Flat outputs across a
    serialized boundary]).

    Note [AOTInductor is fed exactly what was exported]
        The compiled model checks nothing about its inputs: compiled for
        shape (3, 5), it returns a (3, 5) result for a (4, 5) input, reads
        past the end of a (1, 2) one, and computes garbage from float64 or
        transposed inputs (checks exist only with
        ``aot_inductor.debug_compile`` at compile time and
        ``AOTI_RUNTIME_CHECK_INPUTS=1`` at run time).  The mode relies on
        the signature cache (Note [Export once per signature]): a package
        is made per dtype, shape, strides and device of every input, so it
        is only ever fed exactly what was exported.

    A compile costs about 6 s (16-20 s for the first in a process); the
    package's folder is removed once it is loaded, and the compiler's
    cache is ``TORCHINDUCTOR_CACHE_DIR``.
    """

    name = "torch.aoti"
    summary = "AOTInductor: torch.export + aoti_compile_and_package + load (once per signature)"

    @classmethod
    def stage_name(cls, spec: ModeSpec) -> str:
        return "inductor"  # AOTInductor's lowering and C++ code generation

    @classmethod
    def ladder(cls, spec: ModeSpec) -> tuple[Stage, ...]:
        return (*_ptx_capture_rungs(spec), Stage(cls.stage_name(spec), spec))

    def unavailable(self) -> Optional[str]:
        if not any(shutil.which(c) for c in (os.environ.get("CXX", ""), "g++", "c++",
                                              "clang++") if c):
            return "no C++ compiler for AOTInductor on this machine"
        return super().unavailable()

    def export(self, fn: Callable, args: tuple) -> Callable:
        import torch

        flat = _PtxFlat(fn)
        ep = _ptx_export(fn, args, flat)
        if flat.n_outputs == 0:  # constants only: nothing to compile
            return lambda *xs: flat.restore([])
        where = tempfile.mkdtemp(prefix="seamfuzz-aoti-")
        try:
            with stage("compile"), _ptx_quiet():
                path = torch._inductor.aoti_compile_and_package(
                    ep, package_path=os.path.join(where, "call.pt2"))
            with stage("load"), _ptx_quiet():
                model = torch._inductor.aoti_load_package(path)
        finally:
            shutil.rmtree(where, ignore_errors=True)

        def run(*xs: Any) -> Any:
            return flat.restore(model(*xs))

        return run

    def declared_limit(self, exc: BaseException) -> Optional[str]:
        for e in root_causes(exc):
            for marker, why in _PTX_AOTI_LIMITS:
                if isinstance(e, NotImplementedError) and marker in str(e):
                    return why
        return _ptx_capture_limit(exc)


def _ptx_to_numpy(t: Any, real: bool = False) -> tuple[np.ndarray, str]:
    """(a C-contiguous numpy array of ``t``'s values, its dtype name); the
    dtypes numpy lacks (bfloat16, float8) as their ml_dtypes type; with
    ``real``, a complex tensor as real pairs (``torch.view_as_real``)."""
    import torch

    t = t.detach().resolve_conj().resolve_neg().cpu()
    if real and t.is_complex():
        t = torch.view_as_real(t)
    t = t.contiguous()
    name = str(t.dtype).replace("torch.", "")
    if is_torch_bitcast(name):
        bits = t.view(getattr(torch, same_width_int(name).name)).numpy()
        return bits.view(storage_dtype(name)), name
    return t.numpy(), name


#: ONNX element types of complex numbers.
_PTX_ONNX_COMPLEX = (14, 15)


def _ptx_feed(model: Any, position: dict[str, int]) -> list[tuple[str, int, bool]]:
    """``(graph input name, argument index, as real pairs)`` per input of
    the ONNX graph, which names the exported program's user inputs
    (``args_0``, ...) and may leave unused ones out.  The exporter gives a
    complex input a real type with a trailing dimension of 2."""
    feed = []
    for x in model.graph.input:
        if x.name not in position:
            raise RuntimeError(f"ONNX graph input {x.name!r} is none of the exported "
                               f"program's inputs {list(position)}")
        real = x.type.tensor_type.elem_type not in _PTX_ONNX_COMPLEX
        feed.append((x.name, position[x.name], real))
    return feed


def _ptx_as_complex(t: Any) -> Any:
    """Real pairs (a trailing dimension of 2) back to a complex tensor; a
    tensor that is not such pairs is left as it is, for the contract to
    judge."""
    import torch

    if t.is_floating_point() and t.dim() > 0 and t.shape[-1] == 2 and \
            t.dtype in (torch.float32, torch.float64):
        return torch.view_as_complex(t.contiguous())
    return t


def _ptx_from_numpy(arr: Any, device: str) -> Any:
    """A torch tensor of the very dtype of ``arr`` (an ml_dtypes bfloat16
    array becomes a bfloat16 tensor, never float32)."""
    import torch

    arr = np.array(arr, copy=True, order="C")  # keeps 0-d arrays 0-d
    name = arr.dtype.name
    if arr.dtype.kind == "V" or name in _PTX_ONNX_BITCAST:
        if not is_torch_bitcast(name):
            raise TypeError(f"an ONNX output of dtype {name} has no torch dtype")
        t = torch.from_numpy(arr.view(same_width_int(name))).view(getattr(torch, name))
    else:
        t = torch.from_numpy(arr)
    return t if device == "cpu" else t.to(device)


def _ptx_ort_value_to_numpy(value: Any) -> np.ndarray:
    """An onnxruntime OrtValue (in CPU memory) as numpy; bfloat16 and
    float8, which ``OrtValue.numpy()`` refuses, through their bytes."""
    if not value.is_tensor():
        raise TypeError(f"onnxruntime returned a non-tensor output ({value.data_type()})")
    names = {v: k for k, v in _PTX_ONNX_BITCAST.items()}
    name = names.get(value.element_type())
    if name is None:
        return value.numpy()
    size = value.tensor_size_in_bytes()
    raw = ctypes.string_at(value.data_ptr(), size) if size else b""
    return np.frombuffer(raw, dtype=storage_dtype(name)).reshape(value.shape())


class TorchOnnx(_TorchExportMode):
    """The call exported (``torch.export``), converted to ONNX by
    ``torch.onnx.export(ep, dynamo=True)`` (onnxscript's torchlib), and run
    by onnxruntime (one thread; ``CUDAExecutionProvider`` for
    ``device=cuda``) or by onnx's ``ReferenceEvaluator``
    (``runtime=reference``, ONNX semantics in numpy).

    Inputs are fed by the graph's input names (the exported program's user
    inputs, ``xs_0``, ...; the graph may leave unused ones out); bfloat16
    and float8 go to onnxruntime as OrtValues of their bits, and a complex
    input as real pairs, as the exporter types it.  Outputs come back as
    torch tensors of their own dtype (a float32 output of a float16 call
    stays float32: the contract judges it; real pairs of a complex output
    become complex again) in the eager structure (Note [Flat outputs across
    a serialized boundary]).  An ONNX graph cannot write to its inputs (the
    exporter drops the write), so a call that mutates one is refused, a
    declared limit, rather than compared without the write.
    """

    name = "torch.onnx"
    options: ClassVar[dict[str, Option]] = {
        "device": _PTX_DEVICE,
        "runtime": Option("choice", "what runs the ONNX model: onnxruntime (default) or onnx's "
                          "reference evaluator", ("onnxruntime", "reference")),
        "transform": Option("dotted", "a plug-in package.module:attr, onnx.ModelProto -> "
                            "ModelProto, applied to the exported graph before it runs (your "
                            "own ONNX optimizer or quantizer)"),
    }
    summary = "torch.onnx.export (dynamo) + onnxruntime or the ONNX reference (once per " \
              "signature)"

    @classmethod
    def stage_name(cls, spec: ModeSpec) -> str:
        if spec.option("transform"):
            return "transform"
        return "onnx-export" if spec.option("runtime") == "reference" else "onnxruntime"

    @classmethod
    def ladder(cls, spec: ModeSpec) -> tuple[Stage, ...]:
        # The exporter's graph on the reference evaluator first, so that a
        # wrong graph is not blamed on onnxruntime; then the runtime without
        # the plug-in transform, so that its bugs are not blamed on either.
        rungs = _ptx_capture_rungs(spec)
        plain = spec.replace(transform=None)
        reference = plain.replace(runtime="reference")
        rungs.append(Stage(cls.stage_name(reference), reference))
        if plain != reference:
            rungs.append(Stage(cls.stage_name(plain), plain))
        if spec != plain:
            rungs.append(Stage(cls.stage_name(spec), spec))
        return tuple(rungs)

    def __init__(self, spec: ModeSpec) -> None:
        super().__init__(spec)
        self.runtime = spec.option("runtime", "onnxruntime")
        self._transform: Any = None

    def transform(self) -> Optional[Callable[[Any], Any]]:
        """The plug-in graph rewrite, or None; :class:`ModeUsageError`
        when it does not import or is not callable."""
        name = self.spec.option("transform")
        if name and self._transform is None:
            try:
                self._transform = import_dotted(name)
            except Exception as exc:
                raise ModeUsageError(f"plug-in ONNX transform {name} cannot be loaded: "
                                     f"{type(exc).__name__}: {exc}") from None
            if not callable(self._transform):
                raise ModeUsageError(f"plug-in ONNX transform {name} is not callable")
        return self._transform

    def unavailable(self) -> Optional[str]:
        self.transform()
        try:
            import onnx  # noqa: F401
            import onnxscript  # noqa: F401
        except ImportError as exc:
            return f"the ONNX exporter needs onnx and onnxscript ({exc}) (pip install 'seamfuzz[export]')"
        if self.runtime == "onnxruntime":
            try:
                import onnxruntime
            except ImportError as exc:
                return f"onnxruntime is not installed ({exc}) (pip install 'seamfuzz[export]')"
            if self.device == "cuda" and \
                    "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
                return "onnxruntime has no CUDAExecutionProvider here"
        return super().unavailable()

    def export(self, fn: Callable, args: tuple) -> Callable:
        import torch

        flat = _PtxFlat(fn)
        ep = _ptx_export(fn, args, flat)
        if flat.n_outputs == 0:  # constants only (ONNX refuses a graph without outputs)
            return lambda *xs: flat.restore([])
        with stage("convert"), _ptx_quiet():
            program = torch.onnx.export(ep, (), dynamo=True, verbose=False)
            # The exporter functionalizes the program (torch.export's own
            # graph keeps in-place ops), and its graph drops the writes.
            sig = (getattr(program, "exported_program", None) or ep).graph_signature
            written = sorted({*sig.user_inputs_to_mutate.values(),
                              *sig.buffers_to_mutate.values()})
            if written:
                raise ExportRefusal(
                    f"the call writes to its input(s) {', '.join(written)}: an ONNX graph "
                    "cannot, it drops the write", "an in-place write to an input (ONNX has none)")
            model = program.model_proto
        rewrite = self.transform()
        if rewrite is not None:
            with stage("transform"):
                model = rewrite(model)
        position = {name: i for i, name in enumerate(ep.graph_signature.user_inputs)}
        with stage("session"), _ptx_quiet():
            feed = _ptx_feed(model, position)
            if self.runtime == "reference":
                call = self._reference(model, feed)
            else:
                call = self._onnxruntime(model, feed)

        def run(*xs: Any) -> Any:
            outs = [_ptx_from_numpy(a, self.device) for a in call(xs)]
            if len(outs) == flat.n_outputs:
                outs = [_ptx_as_complex(t) if c else t for t, c in zip(outs, flat.complex)]
            return flat.restore(outs)

        return run

    def _reference(self, model: Any, feed: list[tuple[str, int, bool]]) -> Callable:
        from onnx.reference import ReferenceEvaluator

        evaluator = ReferenceEvaluator(model)

        def call(xs: tuple) -> list:
            return evaluator.run(None, {n: _ptx_to_numpy(xs[i], real)[0]
                                        for n, i, real in feed})

        return call

    def _onnxruntime(self, model: Any, feed: list[tuple[str, int, bool]]) -> Callable:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 4  # its errors come back as exceptions
        providers = ["CPUExecutionProvider"]
        if self.device == "cuda":
            providers.insert(0, "CUDAExecutionProvider")
        session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                               providers=providers)
        outputs = [x.name for x in session.get_outputs()]
        OrtValue = onnxruntime.OrtValue

        def call(xs: tuple) -> list:
            binding = session.io_binding()
            keep = []  # an OrtValue from numpy shares the array's memory
            for n, i, real in feed:
                arr, dtype = _ptx_to_numpy(xs[i], real)
                if dtype in _PTX_ONNX_BITCAST:
                    arr = arr.view(same_width_int(dtype))
                    value = OrtValue.ortvalue_from_numpy_with_onnx_type(
                        arr, _PTX_ONNX_BITCAST[dtype])
                else:
                    value = OrtValue.ortvalue_from_numpy(arr)
                keep.append((arr, value))
                binding.bind_ortvalue_input(n, value)
            for n in outputs:
                binding.bind_output(n, "cpu")
            session.run_with_iobinding(binding)
            return [_ptx_ort_value_to_numpy(v) for v in binding.get_outputs()]

        return call

    def declared_limit(self, exc: BaseException) -> Optional[str]:
        table = _PTX_REFERENCE_LIMITS if self.runtime == "reference" else _PTX_ORT_LIMITS
        return _ptx_capture_limit(exc) or _ptx_onnx_conversion_limit(exc) or \
            limit_in(exc, table)
