"""seamfuzz: find the inputs on which a deep-learning library disagrees with
itself across execution modes (eager, compiled, graph, XLA, devices)."""

__version__ = "0.1.0"
