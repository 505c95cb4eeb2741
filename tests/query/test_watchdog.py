"""The query watchdog: fires once past the deadline, never after a cancel, and keeps no state
for timers that are done (cancelling one that already fired must not leak)."""

from __future__ import annotations

import threading
import time

from ledgerhouse.query.watchdog import Watchdog


def test_fires_cancels_and_leaks_nothing() -> None:
    w = Watchdog()
    fired = threading.Event()
    h = w.schedule(0.01, fired.set)
    assert fired.wait(2)
    w.cancel(h)  # a query that timed out still cancels its timer in `finally`
    skipped = threading.Event()
    w.cancel(w.schedule(0.01, skipped.set))
    time.sleep(0.1)
    assert not skipped.is_set()
    assert w.live() == 0
