"""tensorflow export modes: SavedModel, TFLite (LiteRT) and tf2onnx +
onnxruntime.

Each mode exports the call's function once per argument signature, from the
first call's inputs (:class:`~runner.modes.base.Exported`): the input
signature is those inputs' dtypes and shapes, and every later input of the
same signature has them too (the cache key includes them, see
``runner.call``).  The steps are tagged with their stage (export, convert,
load, session, run), which observations show as ``[stage]``.

tensorflow and the runtimes (ai_edge_litert, tf2onnx, onnxruntime) are
imported inside the methods that need them, so the parent process reads the
declarations without them.  This module is embedded verbatim in
reproducers: its top-level names must not clash with the other embedded
modules' (hence the ``_tfx`` prefixes).

Note [Flat outputs across a serialized boundary]
    A TFLite signature and an ONNX graph return a flat list of tensors (a
    TFLite signature names them ``output_0``, ... or after a dict's keys or
    a namedtuple's fields, and refuses nested structures).  So the call is
    traced by ``tf.function`` as the ``tf.function`` mode traces it (its
    output conventions and its errors), and the converted function calls
    that one and returns its tensor leaves in ``tf.nest.flatten`` order
    (composites expanded), always as a list: the names are then
    ``output_0`` .. ``output_{n-1}``, read in numeric order.  The eager
    structure (a namedtuple's own class, a dict, a ragged tensor) is rebuilt
    from the traced structure with ``tf.nest.pack_sequence_as``; ``None``
    leaves stay ``None``.  Inputs are named ``input_0`` .. by their
    ``TensorSpec`` names and fed by name (TFLite lists them alphabetically:
    ``input_10`` comes before ``input_2``).  SavedModel keeps the structure
    itself and is called positionally.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
import weakref
from typing import Any, Callable, ClassVar, Optional

from runner.modes.base import (
    ExportRefusal,
    Exported,
    Mode,
    ModeSpec,
    Option,
    Stage,
    device_rung,
    limit_in,
    stage,
)
from runner.modes.tf_modes import TfEager, TfFunction

__all__ = ["TfLite", "TfOnnx", "TfSavedModel"]

_TFX_DEVICE = Option("choice", "the device the artifact runs on", ("cpu", "gpu"))
_TFX_CPU_ONLY = Option("choice", "the device the artifact runs on (the CPU only)", ("cpu",))

#: What the TFLite converter and the LiteRT interpreter say when the path
#: does not support an op or a dtype (measured with tensorflow 2.21 and
#: ai-edge-litert 2.3.0).
_TFX_TFLITE_LIMITS = (
    # The converter: no TFLite builtin for the op at this dtype (float16 and
    # float64 arithmetic, int64 abs, uint8 maximum, Erf, Svd, BesselI0, ...),
    # and Flex (SELECT_TF_OPS) is not enabled.
    ("is neither a custom op nor a flex op", "an op or dtype TFLite builtins do not support"),
    # The interpreter: a model that needs Flex ops.
    ("not supported by this interpreter", "needs Select TensorFlow (Flex) ops"),
)

#: What onnxruntime says when it lacks a kernel for an op of the model.
_TFX_ORT_LIMITS = (
    # A kernel missing for this op at this dtype (float64 Erf, int16 Max).
    ("Could not find an implementation for", "an op or dtype onnxruntime does not implement"),
    # An op of a domain (or version) onnxruntime does not register (tf2onnx's
    # contrib ops); a TensorFlow op left unconverted is caught before.
    ("No Op registered for", "an op onnxruntime does not register"),
    # String ops (StringNormalizer) need a locale the machine lacks.
    ("Failed to construct locale with name", "a string op that needs a missing locale"),
    # A tensor type onnxruntime has no kernels or values for (complex64 and
    # complex128 graph inputs and outputs).
    ("is not currently registered or supported", "a tensor type onnxruntime does not support"),
    # tf2onnx needs an attribute's worth of input as a constant (concat's or
    # a reduction's axis given as a tensor): ONNX takes it as an attribute.
    ("needs to be const", "an argument ONNX needs as a constant (an axis given as a tensor)"),
)


def _tfx_signature(args: tuple, zero_dims_unknown: bool = False) -> list:
    """The input signature of ``args``: one ``TensorSpec`` per tensor, named
    ``input_i``; with ``zero_dims_unknown`` a zero-sized dimension is left
    unknown (TFLite cannot allocate a fixed zero-size input: "Invalid tensor
    size"; a ``None`` dimension fed 0 rows works)."""
    import tensorflow as tf

    specs = []
    for i, t in enumerate(args):
        if isinstance(t, tf.Variable):
            raise ExportRefusal(
                f"argument {i} is a tf.Variable: an exported signature takes tensors",
                "a tf.Variable argument")
        shape = list(t.shape)
        if zero_dims_unknown:
            shape = [None if d == 0 else d for d in shape]
        specs.append(tf.TensorSpec(shape, t.dtype, name=f"input_{i}"))
    return specs


def _tfx_device(device: str) -> Any:
    import tensorflow as tf

    return tf.device(f"/{device.upper()}:0")


def _tfx_no_gpu() -> Optional[str]:
    import tensorflow as tf

    return None if tf.config.list_physical_devices("GPU") else "no GPU on this machine"


class _TfxFlat:
    """The tensor leaves of a traced function's outputs, and back: see
    Note [Flat outputs across a serialized boundary]."""

    def __init__(self, structure: Any) -> None:
        import tensorflow as tf

        self._structure = structure
        leaves = tf.nest.flatten(structure, expand_composites=True)
        self._tensor_at = [i for i, x in enumerate(leaves) if isinstance(x, tf.Tensor)]
        others = [x for x in leaves if x is not None and not isinstance(x, tf.Tensor)]
        if others:  # a TensorArray: tf.function returns it, no signature can
            raise ExportRefusal(
                f"the call returns a {type(others[0]).__name__}, which is no tensor: "
                "an exported signature returns tensors", "returns a non-tensor")
        self._leaves: list = [None] * len(leaves)

    @property
    def n_outputs(self) -> int:
        return len(self._tensor_at)

    def tensors(self, out: Any) -> list:
        """The tensor leaves of ``out`` (traced like the structure), as a list."""
        import tensorflow as tf

        leaves = tf.nest.flatten(out, expand_composites=True)
        return [leaves[i] for i in self._tensor_at]

    def restore(self, arrays: list) -> Any:
        """The eager structure with ``arrays`` (numpy, in output order) as
        tensors of their own dtype."""
        import tensorflow as tf

        leaves = list(self._leaves)
        for i, a in zip(self._tensor_at, arrays, strict=True):
            leaves[i] = tf.convert_to_tensor(a)
        return tf.nest.pack_sequence_as(self._structure, leaves, expand_composites=True)


def _tfx_trace(fn: Callable, sig: list) -> tuple[Any, Any, _TfxFlat]:
    """A module holding the flat function, its concrete function, and the
    flattener; the variables the function reads are tracked by the module.

    The call is traced by ``tf.function`` as the ``tf.function`` mode does
    (its output conventions: numbers and strings become tensors, ``None``
    stays; its errors), and the exported function calls that one and
    returns its tensor leaves."""
    import tensorflow as tf

    inner = tf.function(fn, input_signature=sig)
    flat = _TfxFlat(inner.get_concrete_function().structured_outputs)

    def seamfuzz_flat(*args: Any) -> list:
        return flat.tensors(inner(*args))

    module = tf.Module()
    module.seamfuzz_call = tf.function(seamfuzz_flat, input_signature=sig, autograph=False)
    concrete = module.seamfuzz_call.get_concrete_function()
    module.seamfuzz_variables = list(concrete.variables)
    return module, concrete, flat


class _TfExportMode(Mode):
    """What the three export modes share: the device option, the ladder
    (``tf.function`` first, to tell graph-mode bugs from the exporter's),
    the device scope and the export-once callable."""

    framework = "tensorflow"
    options: ClassVar[dict[str, Option]] = {"device": _TFX_DEVICE}
    devices = ("cpu", "gpu")
    #: The axis a discrepancy only this mode shows is put on.
    axis: ClassVar[str] = "export"
    #: (message marker, limit) pairs this path declares.
    limits: ClassVar[tuple[tuple[str, str], ...]] = ()

    @classmethod
    def stage_name(cls, spec: ModeSpec) -> str:
        return cls.axis

    @classmethod
    def ladder(cls, spec: ModeSpec) -> tuple[Stage, ...]:
        device = (("device", spec.device),) if spec.device != "cpu" else ()
        graph = ModeSpec(TfFunction.name, TfFunction.framework, device)
        return (*device_rung(TfEager, spec), Stage("graph", graph),
                Stage(cls.stage_name(spec), spec))

    def __init__(self, spec: ModeSpec) -> None:
        super().__init__(spec)
        self._graph_mode: Optional[TfFunction] = None

    def unavailable(self) -> Optional[str]:
        if self.device == "gpu":
            return _tfx_no_gpu()
        return None

    def run(self, fn: Callable, args: tuple) -> Any:
        with _tfx_device(self.device):
            return fn(*args)

    def build(self, fn: Callable) -> Callable:
        return Exported(lambda args: self.export(fn, args))

    def export(self, fn: Callable, args: tuple) -> Callable:
        """Export ``fn`` for ``args``'s signature; the function that runs
        the artifact."""
        raise NotImplementedError

    def declared_limit(self, exc: BaseException) -> Optional[str]:
        why = limit_in(exc, self.limits)
        if why is None:
            # Every export traces the call with tf.function: what graph mode
            # declares it cannot express, no export can carry either.
            if self._graph_mode is None:
                self._graph_mode = TfFunction(ModeSpec(TfFunction.name, TfFunction.framework))
            why = self._graph_mode.declared_limit(exc)
        return why


class TfSavedModel(_TfExportMode):
    """``tf.saved_model.save`` of a ``tf.Module`` holding
    ``tf.function(fn, input_signature=...)`` (and the variables it reads),
    ``tf.saved_model.load``, and the loaded function called."""

    name = "tf.saved_model"
    axis = "saved_model"
    summary = "tf.saved_model.save, load and call (export once per signature)"

    def export(self, fn: Callable, args: tuple) -> Callable:
        import tensorflow as tf

        with stage("export"):
            sig = _tfx_signature(args)
            module = tf.Module()
            module.seamfuzz_call = tf.function(fn, input_signature=sig)
            # Note: a keras layer bound inside fn is not an attribute of the
            # module; its variables must be tracked or saving refuses the
            # function ("references an 'untracked' resource").
            concrete = module.seamfuzz_call.get_concrete_function()
            module.seamfuzz_variables = list(concrete.variables)
            where = tempfile.mkdtemp(prefix="seamfuzz-savedmodel-")
            try:
                tf.saved_model.save(module, where)
            except BaseException:
                shutil.rmtree(where, ignore_errors=True)
                raise
        with stage("load"):
            try:
                loaded = tf.saved_model.load(where)
            except BaseException:
                shutil.rmtree(where, ignore_errors=True)
                raise
            # The folder goes when the loaded object does (assets stay
            # readable as long as it is used).
            weakref.finalize(loaded, shutil.rmtree, where, True)

        def run(*xs: Any) -> Any:
            # `loaded` is kept alive with the callable: dropping it deletes
            # the variables its function references.
            return loaded.seamfuzz_call(*xs)

        return run


class TfLite(_TfExportMode):
    """``TFLiteConverter.from_concrete_functions`` and the LiteRT
    interpreter's signature runner (one thread); builtins only, no Flex."""

    name = "tf.lite"
    axis = "tflite"
    # LiteRT's Python interpreter has no GPU delegate here.
    options: ClassVar[dict[str, Option]] = {"device": _TFX_CPU_ONLY}
    devices = ("cpu",)
    limits = _TFX_TFLITE_LIMITS
    summary = "TFLite converter + LiteRT interpreter (export once per signature)"

    def unavailable(self) -> Optional[str]:
        try:
            import ai_edge_litert.interpreter  # noqa: F401
        except ImportError as exc:
            return f"ai_edge_litert is not installed ({exc}) (pip install 'seamfuzz[export]')"
        return super().unavailable()

    def export(self, fn: Callable, args: tuple) -> Callable:
        import tensorflow as tf
        from ai_edge_litert.interpreter import Interpreter

        with stage("convert"):
            sig = _tfx_signature(args, zero_dims_unknown=True)
            module, concrete, flat = _tfx_trace(fn, sig)
            model = tf.lite.TFLiteConverter.from_concrete_functions([concrete], module).convert()
        with stage("load"):
            interpreter = Interpreter(model_content=model, num_threads=1)
            runner = interpreter.get_signature_runner()
            inputs = {name: int(name.rsplit("_", 1)[1])
                      for name in runner.get_input_details()
                      if name.startswith("input_") and name.rsplit("_", 1)[1].isdigit()}
            if len(inputs) != len(runner.get_input_details()):
                raise RuntimeError(f"TFLite signature inputs {list(runner.get_input_details())} "
                                   f"are not named input_0..input_{len(args) - 1}")
            outputs = [f"output_{i}" for i in range(flat.n_outputs)]
            if set(outputs) != set(runner.get_output_details()):
                raise RuntimeError(f"TFLite signature outputs {list(runner.get_output_details())} "
                                   f"are not {outputs}")

        import numpy as np

        def run(*xs: Any) -> Any:
            got = runner(**{name: np.asarray(xs[i].numpy()) for name, i in inputs.items()})
            return flat.restore([got[name] for name in outputs])

        return run


class _TfxTf2OnnxLog(logging.Handler):
    """Collects what tf2onnx logs while converting (it logs unsupported ops
    and handler failures instead of raising)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.unsupported: list[str] = []
        self.failures: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.ERROR:
            return
        if record.exc_info and isinstance(record.exc_info[1], Exception):
            self.failures.append(record.exc_info[1])
        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        if text.startswith("Tensorflow op ["):
            self.unsupported.append(text)


@contextlib.contextmanager
def _tfx_quiet_tf2onnx() -> Any:
    """tf2onnx's logging collected (not printed) and its stdout swallowed."""
    log = logging.getLogger("tf2onnx")
    handler = _TfxTf2OnnxLog()
    saved = (log.level, log.propagate, list(log.handlers))
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield handler
    finally:
        log.setLevel(saved[0])
        log.propagate = saved[1]
        log.handlers = saved[2]


def _tfx_foreign_ops(graph: Any) -> list[str]:
    """Ops of the default ONNX domain that ONNX does not define (the
    TensorFlow ops tf2onnx left as they were), subgraphs included."""
    import onnx

    out: list[str] = []
    for node in graph.node:
        if node.domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type, ""):
            out.append(node.op_type)
        for attr in node.attribute:
            if attr.HasField("g"):
                out += _tfx_foreign_ops(attr.g)
            for g in attr.graphs:
                out += _tfx_foreign_ops(g)
    return out


def _tfx_ort_array(t: Any) -> Any:
    """``t`` as onnxruntime takes it: numpy, with a tf.string tensor's bytes
    as text (onnxruntime's string casts fail on bytes objects: "stod").
    A 0-d tensor's ``numpy()`` is a numpy scalar, which onnxruntime refuses
    ("Unable to handle object of type numpy.int32"): always an array."""
    import numpy as np

    a = np.asarray(t.numpy())
    if a.dtype != object:
        return a

    try:
        return np.vectorize(lambda b: b.decode("utf-8") if isinstance(b, bytes) else b,
                            otypes=[object])(a)
    except UnicodeDecodeError:
        raise ExportRefusal("onnxruntime takes string tensors as text; this tf.string "
                               "input is not UTF-8", "a tf.string input that is not UTF-8")


class TfOnnx(_TfExportMode):
    """``tf2onnx.convert.from_function`` and an onnxruntime session (one
    thread; CUDAExecutionProvider for ``device=gpu``)."""

    name = "tf.onnx"
    axis = "onnx"
    limits = _TFX_ORT_LIMITS
    summary = "tf2onnx + onnxruntime (export once per signature)"

    def unavailable(self) -> Optional[str]:
        try:
            import onnxruntime
            import tf2onnx  # noqa: F401
        except ImportError as exc:
            return f"tf2onnx or onnxruntime is not installed ({exc}) (pip install 'seamfuzz[export]')"
        if self.device == "gpu":
            if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
                return "onnxruntime has no CUDAExecutionProvider here"
            return _tfx_no_gpu()
        return None

    def export(self, fn: Callable, args: tuple) -> Callable:
        import onnxruntime
        import tensorflow as tf
        import tf2onnx

        with stage("convert"):
            sig = _tfx_signature(args)
            module, concrete, flat = _tfx_trace(fn, sig)
            # tf2onnx maps bfloat16 to float16 (tf_utils.TF_TO_ONNX_DTYPE):
            # the model would compute something else.
            if any(t.dtype == tf.bfloat16 for op in concrete.graph.get_operations()
                   for t in op.outputs):
                raise ExportRefusal("tf2onnx converts bfloat16 tensors to float16",
                                       "bfloat16 (tf2onnx makes it float16)")
            with _tfx_quiet_tf2onnx() as log:
                proto, _ = tf2onnx.convert.from_function(module.seamfuzz_call,
                                                         input_signature=sig)
            foreign = _tfx_foreign_ops(proto.graph)
            if foreign:
                detail = "; ".join(log.unsupported[:3] + [str(e) for e in log.failures[:3]])
                raise ExportRefusal(
                    f"tf2onnx left TensorFlow op(s) {', '.join(sorted(set(foreign)))} "
                    f"unconverted" + (f" ({detail})" if detail else ""),
                    "an op tf2onnx does not convert") from (
                        log.failures[0] if log.failures else None)
            if log.failures:  # a converter failed but left a model: not trusted
                raise log.failures[0]
        if flat.n_outputs == 0:  # nothing to compute (ONNX refuses a graph without outputs)
            return lambda *xs: flat.restore([])
        with stage("session"):
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.log_severity_level = 4  # its errors come back as exceptions
            providers = ["CPUExecutionProvider"]
            if self.device == "gpu":
                providers.insert(0, "CUDAExecutionProvider")
            session = onnxruntime.InferenceSession(proto.SerializeToString(), options,
                                                   providers=providers)
            names = {f"input_{i}": i for i in range(len(args))}
            names.update({f"input_{i}:0": i for i in range(len(args))})
            feed = [(x.name, names.get(x.name)) for x in session.get_inputs()]
            if any(i is None for _, i in feed):
                raise RuntimeError(f"ONNX graph inputs {[n for n, _ in feed]} are not "
                                   f"named input_0..input_{len(args) - 1}")
            if len(session.get_outputs()) != flat.n_outputs:
                raise RuntimeError(f"the ONNX graph has {len(session.get_outputs())} outputs, "
                                   f"the function {flat.n_outputs}")

        def run(*xs: Any) -> Any:
            got = session.run(None, {name: _tfx_ort_array(xs[i]) for name, i in feed})
            return flat.restore(got)

        return run
