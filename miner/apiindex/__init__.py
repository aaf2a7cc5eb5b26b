"""The API index: which dotted paths exist in the installed libraries, and the
canonical public name each one denotes.

Modules, by job:

* :mod:`~miner.apiindex.model`: the records (:class:`Symbol`,
  :class:`SymbolKind`, :class:`ApiIndex`, :class:`DocString`);
* :mod:`~miner.apiindex.names`: canonical names <-> import paths
  (:func:`canonical_to_path`, :func:`path_to_canonical`), a pure rule that
  imports no library;
* :mod:`~miner.apiindex.walker`: walking the installed libraries' public
  names (:func:`build_index`);
* :mod:`~miner.apiindex.profiles`: what the walk knows of each framework;
* :mod:`~miner.apiindex.docstrings`: docstrings with examples;
* :mod:`~miner.apiindex.cache`: the versioned on-disk cache, shared with
  :mod:`mutator.signatures`;
* :mod:`~miner.apiindex.build`: the child processes behind the cache
  (:func:`load_or_build`, :func:`load_or_collect_docstrings`).

The miner resolves import aliases itself and ends up with paths as they are
written in code (``torch.nn.modules.conv.Conv2d``, ``tensorflow.abs``,
``tensorflow.python.ops.array_ops.concat``).  :class:`ApiIndex` answers, for
such a path, whether the installed library has it and what it is: a
:class:`Symbol` with the canonical public name (``torch.nn.Conv2d``,
``tf.math.abs``, ``tf.concat``), its framework and its :class:`SymbolKind`.

The index is built by importing the libraries and walking their namespaces
(:func:`build_index`), which costs seconds and hundreds of megabytes, so
mining processes never do it: :func:`load_or_build` reads a JSON cache keyed
by the installed versions and, when it is missing, builds it in a child
process (``python -m miner.apiindex --build OUT``).  The same holds for the
docstrings with examples that seed the corpus (:func:`collect_docstrings`,
:func:`load_or_collect_docstrings`).

Note [Canonical names]
    One object is often reachable under several paths.  Its canonical name is
    the library's own, where it keeps one: TensorFlow records every
    ``tf_export`` name and picks a canonical one
    (``get_canonical_name_for_symbol``: ``tf.abs`` is ``tf.math.abs``).
    Otherwise it is chosen among the walked public paths, preferring in turn

    1. paths from a better root: ``tensorflow`` before ``keras``, and for a
       Keras object ``tensorflow.keras`` before the rest of ``tensorflow``
       (``tf.keras.optimizers.Adam``, not its alias ``tf.optimizers.Adam``);
    2. paths through a package on the way to the module that defines the
       object, over modules that merely import it
       (``torch.nn.utils.rnn.PackedSequence``, not
       ``torch.distributed.utils.PackedSequence``;
       ``torch.ao.quantization.fuse_modules``, not its deprecated alias
       ``torch.quantization.fuse_modules``);
    3. the fewest dots (``torch.nn.Conv2d`` over
       ``torch.nn.modules.conv.Conv2d``), then the shortest module, then a
       last segment equal to the object's own name (``torch.float32`` over
       ``torch.float``), then the smallest string.

    Identity decides what is "the same object", so a builtin exported twice
    has one name (``torch.nn.functional.conv2d`` *is* ``torch.conv2d``),
    while scalar constants (``torch.pi``) are each their own canonical name.

Note [What is indexed]
    * Every path met while walking the public namespace from a root
      (``torch``; ``tensorflow.keras``, ``tensorflow``, ``keras``; ``numpy``
      and its ``random``, ``linalg`` and ``fft`` modules; ``math`` constants).
      A module is walked once, under its first path; any other path to it is
      an *alias* (``torch.nn.modules.conv.F`` is ``torch.nn.functional``), and
      :meth:`ApiIndex.lookup` rewrites an alias prefix before it gives up, so
      the cross product of aliases and attributes is never stored.
    * The members of public classes (Note [Class members]), stored apart
      from the paths; :meth:`ApiIndex.lookup` finds them after a class path
      (``tensorflow.Tensor.numpy``, ``keras.layers.Dense.build``).  Other
      paths to a tensor type are aliases of its home path.
    * ``tensorflow.compat.v1`` paths whose object has a canonical TF2 name
      (v1-only symbols are left out); ``tensorflow.compat.v2`` is an alias of
      ``tensorflow``.
    * Every attribute of every loaded module of the library, private modules
      included (``torch._C._nn.gelu``, ``tensorflow.python.ops.array_ops.concat``,
      ``keras.src.layers.core.dense.Dense``), whose object is one found in the
      public walk (or, for TensorFlow, has a canonical TF2 export name).
      Objects reachable only privately are not indexed: the miner counts
      them as private.  A TensorFlow export name with a private part
      (``tf.__internal__.tracking.Trackable``) is not a canonical name.

    The walk reads module and class dictionaries (``vars``), so it runs no
    library code beyond name introspection (``tf_export``, ``numpy.dtype``)
    and warns about nothing.  Modules a library loads lazily are therefore
    missing (``torch.onnx``), except those its public API is reached through:
    ``numpy.random`` and ``numpy.fft`` are imported, and TensorFlow's lazy
    loaders (``tf.keras``) are loaded as their first attribute access would.

Note [Class members]
    Every public class (kinds CLASS, LAYER, TENSOR_TYPE) has its members
    resolved statically along its MRO: names not starting with ``_``, and
    ``__call__``, defined by a class of the library (members of ``object``
    and of other packages' classes, ``tuple.count``, are left out).  A member
    is named after the public class that defines it, so inherited members
    are one API: ``tf.keras.layers.Dense.add_weight`` and
    ``tf.keras.layers.Conv2D.add_weight`` are ``tf.keras.Layer.add_weight``
    (:attr:`Symbol.owner` ``tf.keras.Layer``).  When the defining class is
    private, the member is named after the nearest public class before it in
    the MRO that inherits from it (``torch._C.TensorBase.sum`` is
    ``torch.Tensor.sum``; a private base shared by public siblings gives each
    its own name: ``tf.keras.layers.Conv2D.convolution_op``).  A tensor type
    is all its classes together, their library bases included
    (``tf.Tensor.numpy`` is defined on EagerTensor's private base), and a
    class that copies another's dictionary has the other's members
    (``torch.FloatTensor.sum`` is ``torch.Tensor.sum``).

    Each member is stored once, under the class it is named after
    (:attr:`ApiIndex.members`), and each public class lists the public
    classes of its MRO (:attr:`ApiIndex.bases`); :meth:`ApiIndex.member`
    walks them.  The build checks every class's own resolution against that
    walk and stores what differs (multiple inheritance, copied dictionaries)
    under the class itself, so the walk answers as the MRO does.

    :attr:`Symbol.binding` says how a member binds: ``method`` (functions,
    method descriptors), ``classmethod``, ``staticmethod`` (also a callable
    without ``__get__``), ``property`` (any data descriptor, and non-callable
    descriptors such as ``cached_property``: kind OTHER, never FUNCTION) or
    ``attribute`` (a plain class attribute: a scalar, kind CONSTANT with its
    value; an enum member; a nested class).
"""

from miner.apiindex.build import installed_frameworks, load_or_build, load_or_collect_docstrings
from miner.apiindex.cache import CacheEntry, cache_directory, library_versions
from miner.apiindex.docstrings import collect_docstrings
from miner.apiindex.model import (
    BINDINGS,
    CLASS_KINDS,
    FRAMEWORKS,
    INDEX_FORMAT,
    ApiIndex,
    DocString,
    IndexBuildError,
    Symbol,
    SymbolKind,
)
from miner.apiindex.names import canonical_to_path, path_to_canonical, script_name
from miner.apiindex.walker import build_index

__all__ = [
    "BINDINGS",
    "CLASS_KINDS",
    "FRAMEWORKS",
    "INDEX_FORMAT",
    "ApiIndex",
    "CacheEntry",
    "DocString",
    "IndexBuildError",
    "Symbol",
    "SymbolKind",
    "build_index",
    "cache_directory",
    "canonical_to_path",
    "collect_docstrings",
    "installed_frameworks",
    "library_versions",
    "load_or_build",
    "load_or_collect_docstrings",
    "path_to_canonical",
    "script_name",
]
