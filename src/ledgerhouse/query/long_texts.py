"""Long SQL texts are checked in a separate process, one at a time, with a deadline.

Parsing a text of 10k-100k characters holds the Python interpreter for up to a second. Done in
the server process, one tenant sending such texts slowed every other tenant's requests (the
interpreter lock); here the parse runs in a worker process (spawned once, lazily), the server
thread only waits on a pipe, and a parse past its deadline is ended by killing the worker.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from ledgerhouse.errors import Overloaded, QueryRejected

#: How long one long text may take to check, and to wait for its turn.
CHECK_DEADLINE_S = 10.0
WAIT_S = 10.0


class _Worker:
    def __init__(self) -> None:
        ctx = mp.get_context("spawn")  # never fork a process that runs DuckDB threads
        self.conn, child = ctx.Pipe()
        self.process: BaseProcess = ctx.Process(
            target=_serve, args=(child,), name="ledgerhouse-sql-check", daemon=True
        )
        self.process.start()
        child.close()

    def check(self, sql: str, known: frozenset[str]) -> tuple[Any, ...]:
        from ledgerhouse.query import guard

        # the template's placeholders carry this process's nonce, or it could not render them
        self.conn.send((sql, known, guard.placeholder_nonce()))
        if not self.conn.poll(CHECK_DEADLINE_S):
            self.close()
            raise QueryRejected(
                f"the SQL text took more than {CHECK_DEADLINE_S:g} s to check",
                hint="Send a shorter or simpler query.",
            )
        result: tuple[Any, ...] = self.conn.recv()
        return result

    def close(self) -> None:
        self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


_lock = threading.Lock()
_worker: _Worker | None = None


def check_long_text(sql: str, known: frozenset[str]) -> Any:
    """The guard's check of ``sql`` (a CheckedQuery), run in the worker process."""
    global _worker
    if not _lock.acquire(timeout=WAIT_S):
        raise Overloaded(
            "too many long SQL texts are being checked at once",
            hint="Retry after the number of seconds in Retry-After, or send a shorter query.",
            retry_after_s=2,
        )
    try:
        if _worker is None or not _worker.process.is_alive():
            _worker = _Worker()
        try:
            outcome = _worker.check(sql, known)
        except (EOFError, OSError, QueryRejected):
            _worker = None  # killed (deadline) or died: the next long text starts a new one
            raise
    finally:
        _lock.release()
    if outcome[0] == "rejected":
        _, message, hint, details = outcome
        raise QueryRejected(message, hint=hint, **details)
    return outcome[1]


def _serve(conn: Connection) -> None:
    from ledgerhouse.query import guard
    from ledgerhouse.query.guard import check_in_process

    while True:
        try:
            sql, known, nonce = conn.recv()
        except EOFError:
            return
        guard.use_placeholder_nonce(nonce)
        try:
            conn.send(("ok", check_in_process(sql, known)))
        except QueryRejected as exc:
            conn.send(("rejected", exc.message, exc.hint, exc.details))
