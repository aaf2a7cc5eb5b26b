"""What every seamfuzz SQLite store shares: one connection in autocommit
mode, explicit ``BEGIN IMMEDIATE`` write transactions (a second writer waits
instead of corrupting anything), and use as a context manager."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import Any, Iterator

__all__ = ["SqliteStore"]


class SqliteStore:
    """Base of the corpus and campaign stores; subclasses open ``_conn``."""

    _conn: sqlite3.Connection

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed on success, rolled back on error."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection; the store is unusable afterwards."""
        self._conn.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
