"""Alerts: one JSON event per failing check, POSTed to the configured webhook.

Sent from a background thread after the commit (or the rejection), with a short timeout and
one retry: a slow or absent receiver never delays or fails a commit. Events wait in a bounded
queue; when it is full the newest are dropped (and logged).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from typing import Any

log = logging.getLogger("ledgerhouse.quality.alerts")

EVENT_TYPE = "ledgerhouse.quality.check_failed"


class WebhookAlerts:
    def __init__(
        self,
        url: str | None,
        *,
        timeout_s: float = 2.0,
        retries: int = 1,
        retry_wait_s: float = 0.5,
        capacity: int = 1000,
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.retry_wait_s = retry_wait_s
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(capacity)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0

    def send(self, events: list[dict[str, Any]]) -> None:
        """Queue the events (no-op without a URL); returns at once."""
        if not self.url or not events:
            return
        self._start()
        for event in events:
            try:
                self._queue.put_nowait(event)
            except queue.Full:
                log.warning("quality alert queue full: dropped an event of %s", event["check"])

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued event was sent or given up (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def close(self) -> None:
        if self._thread is not None:
            self.flush(self.timeout_s * (self.retries + 1))
            self._queue.put(None)
            self._thread.join(timeout=1.0)
            self._thread = None

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="ledgerhouse-quality-alerts", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            try:
                if event is None:
                    return
                self._post(event)
            finally:
                self._queue.task_done()

    def _post(self, event: dict[str, Any]) -> None:
        assert self.url is not None
        body = json.dumps(event, default=str).encode()
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(
                self.url,
                data=body,
                headers={"Content-Type": "application/json", "User-Agent": "ledgerhouse"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
                    if 200 <= resp.status < 300:
                        self.sent += 1
                        return
            except (urllib.error.URLError, OSError, ValueError) as exc:
                log.info("quality alert attempt %d failed: %s", attempt + 1, exc)
            if attempt < self.retries:
                time.sleep(self.retry_wait_s)
        self.failed += 1
        log.warning("quality alert for %s not delivered to the webhook", event.get("check"))


def events(
    tenant: str,
    results: list[dict[str, Any]],
    *,
    commit_id: int | None,
    batch_id: str | None,
    rejected: bool,
) -> list[dict[str, Any]]:
    """The alert events of one run: one per failing check (warn, fail or error)."""
    out = []
    for r in results:
        if r["status"] not in ("warn", "fail", "error"):
            continue
        out.append(
            {
                "type": EVENT_TYPE,
                "tenant": tenant,
                "check": r["check"],
                "relation": r["relation"],
                "kind": r["kind"],
                "severity": r["severity"],
                "status": r["status"],
                "failing": r["failing"],
                "rows_checked": r["rows_checked"],
                "message": r["message"],
                "sample": r["sample"],
                "commit_id": commit_id,
                "batch_id": batch_id,
                "rejected": rejected,
                "at": r.get("recorded_at") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )
    return out
