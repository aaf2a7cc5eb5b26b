"""The miner's rules, each with the code it must mine and the code it must not.

Each :class:`Rule` names one behaviour of :mod:`miner.extract` and carries
VALID examples (source, and the records expected from it, rendered with
:func:`~miner.records.describe_record`) and INVALID ones (source that must
yield none of the listed APIs).  ``tests/core/test_rules.py`` turns every
example into a test against the API index of the installed libraries, so the
examples are both the specification and its proof.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Example", "NonExample", "Rule", "RULES"]


@dataclass(frozen=True, slots=True)
class Example:
    """Source that must yield exactly ``expect`` (in any order)."""

    source: str
    expect: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NonExample:
    """Source that must not yield a record of any API in ``absent``."""

    source: str
    absent: tuple[str, ...]
    why: str = ""


@dataclass(frozen=True, slots=True)
class Rule:
    """One behaviour of the extractor and its examples."""

    name: str
    doc: str
    examples: tuple[Example, ...] = ()
    non_examples: tuple[NonExample, ...] = ()


T34 = "Tensor[torch 3x4 float32 normal]"

RULES: tuple[Rule, ...] = (
    Rule(
        "import-aliases",
        "Import aliases resolve as Python binds them, to canonical public names.",
        examples=(
            Example("import torch as t\nt.abs(t.randn(3, 4))\n",
                    ("torch.randn(3, 4)", f"torch.abs({T34})")),
            Example("from torch import nn\nnn.functional.relu(1.5)\n",
                    ("torch.nn.functional.relu(1.5)",)),
            Example("import torch.nn.functional as F\nF.softmax(x, dim=-1)\n",
                    ("torch.nn.functional.softmax(?x, dim=-1)",)),
            Example("from torch.nn import functional as F\nF.gelu(y)\n",
                    ("torch.nn.functional.gelu(?y)",)),
            Example("import torch.nn\ntorch.nn.functional.relu(z)\n",
                    ("torch.nn.functional.relu(?z)",)),
            Example("import tensorflow as tf\ntf.abs(-2)\ntf.math.abs(-2)\n",
                    ("tf.math.abs(-2)",)),
            Example("from tensorflow import keras\nkeras.layers.Dense(4)\n",
                    ("tf.keras.layers.Dense(4)",)),
            Example("from tensorflow.python.ops import array_ops\n"
                    "array_ops.concat([a, b], 0)\n",
                    ("tf.concat([?a, ?b], 0)",)),
            Example("from torch import *\nzeros(2)\n", ("torch.zeros(2)",)),
        ),
        non_examples=(
            NonExample("def f(torch):\n    return torch.abs(x)\n", ("torch.abs",),
                       "a parameter named torch shadows the library"),
            NonExample("import numpy as torch\ntorch.abs(x)\n", ("torch.abs",),
                       "an alias of another library"),
            NonExample("import mylib as tf\ntf.abs(x)\n", ("tf.math.abs",),
                       "an alias of an unknown module"),
            NonExample("try:\n    import torch\nexcept ImportError:\n    torch = None\n"
                       "torch.abs(x)\n", ("torch.abs",),
                       "a conditional import with a non-library fallback is ambiguous"),
            NonExample("model.sum()\nout.view(2, 3)\n", ("torch.Tensor.sum", "torch.Tensor.view"),
                       "a method call on an unknown receiver"),
            NonExample("import torch\nclass A:\n    torch = None\n    def f(self):\n"
                       "        return self.torch.abs(x)\n", ("torch.abs",),
                       "an attribute named like the library"),
            NonExample("import torch\ntorch.no_such_function(1)\n", ("torch.no_such_function",),
                       "a name the installed library does not have is not guessed"),
        ),
    ),
    Rule(
        "literals",
        "Literal arguments, constant arithmetic and special float constants.",
        examples=(
            Example("import torch, math\n"
                    "torch.clamp(x, -1.5, 2 ** 3, out=None)\n",
                    ("torch.clamp(?x, -1.5, 8, out=None)",)),
            Example("import torch, math\nimport numpy as np\n"
                    "torch.full((2,), float('nan'))\ntorch.full((2,), -math.inf)\n"
                    "torch.full((2,), np.nan)\ntorch.full((2,), torch.inf)\n",
                    ("torch.full((2,), float('nan'))", "torch.full((2,), float('-inf'))",
                     "torch.full((2,), float('inf'))")),
            Example("import tensorflow as tf\ntf.constant(1 + 2j)\ntf.constant('ab' 'c')\n",
                    ("tf.constant((1+2j))", "tf.constant('abc')")),
        ),
    ),
    Rule(
        "dtypes",
        "Dtype attributes of torch, tensorflow and numpy become dtype values.",
        examples=(
            Example("import torch\ntorch.ones(2, dtype=torch.float16)\n",
                    ("torch.ones(2, dtype=torch.float16)",)),
            Example("import tensorflow as tf\nimport numpy as np\n"
                    "tf.cast(x, tf.int32)\ntf.cast(x, np.float32)\n",
                    ("tf.cast(?x, tf.int32)", "tf.cast(?x, np.float32)")),
        ),
    ),
    Rule(
        "dataflow",
        "Names bound earlier in the same scope stand for their value; the latest "
        "binding wins; bindings that differ between branches are unknown.",
        examples=(
            Example("import torch\nd = -1\nd = 1\ntorch.cumsum(y, dim=d)\n",
                    ("torch.cumsum(?y, dim=1)",)),
            Example("import torch\nshape = (2, 3)\nx = torch.zeros(shape)\ntorch.exp(x)\n",
                    ("torch.zeros((2, 3))", "torch.exp(Tensor[torch 2x3 float32 fill(0)])")),
            Example("import torch\nif c:\n    k = 1\nelse:\n    k = 2\ntorch.topk(y, k)\n",
                    ("torch.topk(?y, ?k)",)),
            Example("import torch\ndef f(n):\n    return torch.arange(n)\n",
                    ("torch.arange(?n)",)),
        ),
    ),
    Rule(
        "tensor-builders",
        "torch/tf/numpy tensor builders become tensor specs (shape, dtype, values).",
        examples=(
            Example("import torch\ntorch.sin(torch.tensor([[1, 2], [3, 4]]))\n",
                    ("torch.tensor([[1, 2], [3, 4]])",
                     "torch.sin(Tensor[torch 2x2 int64 data(1, 2, 3, 4)])")),
            Example("import torch\ntorch.neg(torch.randint(0, 5, (4,)))\n",
                    ("torch.randint(0, 5, (4,))", "torch.neg(Tensor[torch 4 int64 randint(0, 5)])")),
            Example("import torch\ntorch.neg(torch.arange(6, dtype=torch.float64))\n",
                    ("torch.arange(6, dtype=torch.float64)",
                     "torch.neg(Tensor[torch 6 float64 arange(0, step=1)])")),
            Example("import tensorflow as tf\ntf.square(tf.constant([1., 2.]))\n",
                    ("tf.constant([1.0, 2.0])",
                     "tf.math.square(Tensor[tensorflow 2 float32 data(1.0, 2.0)])")),
            Example("import tensorflow as tf\ntf.exp(tf.random.normal([2, 3]))\n",
                    ("tf.random.normal([2, 3])", "tf.math.exp(Tensor[tensorflow 2x3 float32 normal])")),
            Example("import torch\nimport numpy as np\n"
                    "torch.from_numpy(np.zeros((2, 2), dtype=np.float32))\n",
                    ("torch.from_numpy(Tensor[numpy 2x2 float32 fill(0)])",)),
            Example("import torch\ntorch.relu(torch.randn(batch, 8))\n",
                    ("torch.randn(?batch, 8)", "torch.relu(Tensor[torch ?x8 float32 normal])")),
        ),
    ),
    Rule(
        "tensor-transformations",
        "Cheap shape-known transformations of a known tensor are followed: "
        ".T, .permute, .transpose, .float()/.to(dtype), .view/.reshape.",
        examples=(
            Example("import torch\nx = torch.randn(3, 4).T\ntorch.cumsum(x, 0)\n",
                    ("torch.randn(3, 4)",
                     "torch.cumsum(Tensor[torch 4x3 float32 normal permuted(1,0)], 0)")),
            Example("import torch\nx = torch.randn(2, 6).view(3, 4).double()\ntorch.sum(x)\n",
                    ("torch.randn(2, 6)", "torch.Tensor.view(Tensor[torch 2x6 float32 normal], 3, 4)",
                     f"torch.Tensor.double({T34})",
                     "torch.sum(Tensor[torch 3x4 float64 normal])")),
            Example("import torch\n"
                    "x = torch.randn(2, 3, 4, 4).contiguous(memory_format=torch.channels_last)\n"
                    "torch.relu(x)\n",
                    ("torch.randn(2, 3, 4, 4)",
                     "torch.Tensor.contiguous(Tensor[torch 2x3x4x4 float32 normal], "
                     "memory_format=torch.channels_last)",
                     "torch.relu(Tensor[torch 2x3x4x4 float32 normal channels_last])")),
            Example("import torch\nx = torch.ones(2, 3, 4).permute(2, 0, 1)\ntorch.sum(x)\n",
                    ("torch.ones(2, 3, 4)",
                     "torch.Tensor.permute(Tensor[torch 2x3x4 float32 fill(1)], 2, 0, 1)",
                     "torch.sum(Tensor[torch 4x2x3 float32 fill(1) permuted(2,0,1)])")),
        ),
    ),
    Rule(
        "tensor-methods",
        "A method called on a known torch tensor is the tensor-method API "
        "(explicitly approximate: results of torch calls are assumed to be tensors).",
        examples=(
            Example("import torch\nx = torch.rand(5)\nx.sum(0, keepdim=True)\n",
                    ("torch.rand(5)", "torch.Tensor.sum(Tensor[torch 5 float32 uniform], 0, "
                                      "keepdim=True)")),
            Example("import torch\ny = torch.abs(a)\ny.max()\n",
                    ("torch.abs(?a)", "torch.Tensor.max(torch.abs(?a))")),
        ),
        non_examples=(
            NonExample("def f(x):\n    return x.sum()\n", ("torch.Tensor.sum",),
                       "a parameter is not known to be a tensor"),
        ),
    ),
    Rule(
        "class-instances",
        "Methods of objects built from a library class resolve through the class "
        "(inherited methods under the class that defines them); class and static "
        "methods are assumed to return an instance of their class.",
        examples=(
            Example("import tensorflow as tf\nv = tf.Variable([1, 2])\nv.assign_add([1, 1])\n",
                    ("tf.Variable([1, 2])", "tf.Variable.assign_add(tf.Variable([1, 2]), [1, 1])")),
            Example("import tensorflow as tf\nds = tf.data.Dataset.range(5)\nds.batch(2)\n",
                    ("tf.data.Dataset.range(5)",
                     "tf.data.Dataset.batch(tf.data.Dataset.range(5), 2)")),
        ),
        non_examples=(
            NonExample("import torch\ng = make_generator()\ng.manual_seed(0)\n",
                       ("torch.Generator.manual_seed",), "the receiver's class is unknown"),
        ),
    ),
    Rule(
        "modules",
        "A module or layer constructed, then applied, is one record holding both "
        "argument lists; a layer constructed and never applied is a constructor call.",
        examples=(
            Example("import torch\nimport torch.nn as nn\nconv = nn.Conv2d(3, 16, 3)\n"
                    "out = conv(torch.randn(1, 3, 8, 8))\n",
                    ("torch.randn(1, 3, 8, 8)",
                     "torch.nn.Conv2d(3, 16, 3)(Tensor[torch 1x3x8x8 float32 normal])")),
            Example("import torch\ntorch.nn.ReLU(inplace=True)(x)\n",
                    ("torch.nn.ReLU(inplace=True)(?x)",)),
            Example("import torch.nn as nn\n"
                    "class Net(nn.Module):\n"
                    "    def __init__(self):\n"
                    "        super().__init__()\n"
                    "        self.fc = nn.Linear(4, 2)\n"
                    "    def forward(self, x):\n"
                    "        return self.fc(x)\n",
                    ("torch.nn.Linear(4, 2)(?x)",)),
            Example("import tensorflow as tf\ntf.keras.layers.Dense(4, activation='relu')\n",
                    ("tf.keras.layers.Dense(4, activation='relu')",)),
        ),
    ),
    Rule(
        "constructed-arguments",
        "A library call used as an argument is kept as that call, for the runner "
        "to build before the call under test.",
        examples=(
            Example("import torch\ntorch.add(torch.abs(a), torch.Generator().initial_seed())\n",
                    ("torch.abs(?a)", "torch.Generator()",
                     "torch.Generator.initial_seed(torch.Generator())",
                     "torch.add(torch.abs(?a), torch.Generator.initial_seed(torch.Generator()))")),
        ),
    ),
)
