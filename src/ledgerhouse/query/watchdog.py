"""One timer thread for every query's time limit (a ``threading.Timer`` per query started a
thread per request, a fixed ~0.3 ms on every small query)."""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable


class Watchdog:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._pending: set[int] = set()  # scheduled, neither fired nor cancelled
        self._ids = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def schedule(self, delay_s: float, callback: Callable[[], None]) -> int:
        """Call ``callback`` after ``delay_s`` unless cancelled first; returns a handle."""
        with self._cond:
            handle = next(self._ids)
            heapq.heappush(self._heap, (time.monotonic() + delay_s, handle, callback))
            self._pending.add(handle)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="query-watchdog")
                self._thread.daemon = True
                self._thread.start()
            self._cond.notify()
            return handle

    def cancel(self, handle: int) -> None:
        """Forget a timer (a no-op once it fired); its heap entry is dropped when due."""
        with self._cond:
            self._pending.discard(handle)

    def live(self) -> int:
        """Timers still to fire."""
        with self._cond:
            return len(self._pending)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, handle, callback = self._heap[0]
                if handle not in self._pending:
                    heapq.heappop(self._heap)
                    continue
                now = time.monotonic()
                if deadline > now:
                    self._cond.wait(deadline - now)
                    continue
                heapq.heappop(self._heap)
                self._pending.discard(handle)
            with contextlib.suppress(Exception):  # a failed interrupt must not stop it
                callback()
