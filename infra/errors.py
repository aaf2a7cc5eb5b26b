"""seamfuzz's exception tree (in the lowest stage, so every stage can use it).

Inside seamfuzz, errors are exceptions under :class:`SeamfuzzError`; at the
boundaries (one file mined, one case run) they become values, so one bad file
or one crashing case never tears a run down.
"""

from __future__ import annotations


class SeamfuzzError(Exception):
    """Base class of every exception seamfuzz raises on purpose."""


class InvalidArgument(SeamfuzzError, ValueError):
    """A user or configuration mistake: a bad path, an unknown mode, a store
    that is not a seamfuzz store.  The command line prints its message as one
    line and exits with status 2."""


class InternalError(SeamfuzzError):
    """A bug in seamfuzz itself.  Never caught: it must surface."""
