"""OpenLineage run events for every job that writes (docs/governance/openlineage.md).

``OpenLineageEmitter`` is a commit observer (``storage/commits.py``): each transaction of the
commit writer is one run of one job.

- ``started``: a ``START`` event of the job (``ingest.<dataset>``, ``ml_score``, ``init``,
  ``upgrade``: the transaction's operation, ``:`` read as ``.``).
- ``committed``: for each mart or rollup the commit refreshed, a child run of its own job
  (``refresh.<relation>``, a ``ParentRunFacet`` naming the commit's run) with ``START`` and
  ``COMPLETE``; then the commit's ``COMPLETE`` with its inputs (the batch, and the relations the
  lineage graph says the written tables are made from) and outputs (each written table with a
  schema, a column-lineage, a version and a ``ledgerhouse_commit`` facet).
- ``failed``: ``FAIL`` with an ``errorMessage`` facet (nothing was published; no outputs).
- ``abandoned`` (a duplicate batch, nothing staged): ``COMPLETE`` with no outputs, so the run
  the ``START`` opened is closed; nothing failed, the job had nothing to write.

Events are built with ``openlineage-python``'s classes and emitted through its client
(``events.py``, imported on the first transaction): a ``FileTransport`` appending NDJSON to
``<root>/lineage/openlineage/<tenant>/events.ndjson`` (under the tenant's writer lock, so
lines never interleave), and with ``openlineage=http`` also an ``HttpTransport`` (Marquez)
driven from one background thread with a bounded queue and a timeout. Emitting never fails
or holds up a commit: every error is logged and dropped.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledgerhouse.access import Principal, Resource, authorize
from ledgerhouse.errors import ConfigError, InvalidRequest
from ledgerhouse.model.schema import TableDef

if TYPE_CHECKING:
    from ledgerhouse.governance.lineage.graph import LineageGraph
    from ledgerhouse.governance.lineage.openlineage.events import Emission, HttpSender
    from ledgerhouse.storage.commits import Transaction

log = logging.getLogger("ledgerhouse.openlineage")

try:
    from importlib.metadata import version as _dist_version

    LEDGERHOUSE_VERSION = _dist_version("ledgerhouse")
except Exception:  # pragma: no cover - running from a source tree that is not installed
    from ledgerhouse import __version__ as LEDGERHOUSE_VERSION

#: ``producer`` of every event and facet Ledgerhouse makes (a URI, as the spec asks).
PRODUCER = f"urn:ledgerhouse:{LEDGERHOUSE_VERSION}"
#: Where Ledgerhouse's own facets are described (``docs/governance/openlineage.md``).
FACET_SCHEMA = "urn:ledgerhouse:openlineage:facets:1-0-0"
MODES = ("file", "http", "off")
EVENTS_FILE = "events.ndjson"
#: Most events waiting for the HTTP thread; more are dropped (and logged), never block a commit.
HTTP_QUEUE = 10_000
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_JOB = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
#: Most events one read returns.
MAX_EVENTS = 10_000

GraphFor = Callable[[str], "LineageGraph | None"]


def job_namespace(tenant: str) -> str:
    """Namespace of a tenant's jobs and tables: ``ledgerhouse://<tenant>``."""
    return f"ledgerhouse://{tenant}"


def batch_namespace(tenant: str) -> str:
    """Namespace of a tenant's batches (batch ids are unique per tenant only)."""
    return f"ledgerhouse-batch://{tenant}"


def job_name(operation: str) -> str:
    """``ingest:trades`` -> ``ingest.trades``; ``ml_score``, ``init``, ``upgrade`` as they are."""
    return operation.replace(":", ".")


def refresh_job(relation: str) -> str:
    return f"refresh.{relation}"


def events_dir(root: Path, tenant: str) -> Path:
    if not _TENANT.fullmatch(tenant):
        raise ValueError(f"not a tenant name: {tenant[:80]!r}")
    return root / "lineage" / "openlineage" / tenant


class OpenLineageEmitter:
    """The commit observer that turns each transaction into OpenLineage runs (module doc).

    ``tables``: every table by relation (schema facets); ``derived``: the relations commit
    listeners rewrite (marts and rollups: a child run each); ``graph(tenant)``: the lineage
    graph (column lineage and inputs), or None when lineage is not available;
    ``extra_inputs``: the relations a table is made from when the graph has no transform for it
    (the anomaly scores, from the trades and prices their features read). Every call is
    guarded: an error is logged, never raised into the commit writer.
    """

    def __init__(
        self,
        root: Path,
        tables: Mapping[str, TableDef],
        derived: Collection[str],
        graph: GraphFor,
        *,
        extra_inputs: Mapping[str, Collection[str]] | None = None,
        mode: str = "file",
        url: str | None = None,
        api_key: str | None = None,
        http_timeout_s: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if mode not in MODES:
            raise ConfigError(
                f"openlineage must be one of {', '.join(MODES)}, not {mode!r}",
                hint="Set LEDGERHOUSE_OPENLINEAGE to file, http or off.",
                setting="openlineage",
            )
        if mode == "http" and not url:
            raise ConfigError(
                "openlineage is 'http' but openlineage_url is not set",
                hint="Set LEDGERHOUSE_OPENLINEAGE_URL (e.g. http://marquez:5000), or "
                "LEDGERHOUSE_OPENLINEAGE=file.",
                setting="openlineage_url",
            )
        self.root = root
        self.mode = mode
        self.tables = dict(tables)
        self.derived = frozenset(derived)
        self.graph = graph
        self.extra_inputs = {r: tuple(s) for r, s in (extra_inputs or {}).items()}
        self.clock = clock
        self._http = (url, api_key, http_timeout_s) if mode == "http" else None
        self._emission: Emission | None = None
        self._lock = threading.Lock()

    def _emitter(self) -> Emission:
        with self._lock:
            if self._emission is None:
                from ledgerhouse.governance.lineage.openlineage.events import (
                    Emission,
                    HttpSender,
                )

                http = None
                if self._http is not None:
                    url, api_key, timeout_s = self._http
                    http = HttpSender(str(url), api_key, timeout_s)
                self._emission = Emission(
                    self.root, self.tables, self.derived, self.graph, self.extra_inputs,
                    self.clock, http,
                )  # fmt: skip
            return self._emission

    @property
    def http(self) -> HttpSender | None:
        """The HTTP sender (mode ``http``, once a transaction started)."""
        return self._emission.http if self._emission is not None else None

    # -- the observer -------------------------------------------------------------------------
    def started(self, txn: Transaction) -> None:
        self._guard("started", txn, lambda e: e.started(txn))

    def committed(self, txn: Transaction) -> None:
        self._guard("committed", txn, lambda e: e.committed(txn))

    def failed(self, txn: Transaction, error: BaseException) -> None:
        self._guard("failed", txn, lambda e: e.failed(txn, error))

    def abandoned(self, txn: Transaction) -> None:
        self._guard("abandoned", txn, lambda e: e.abandoned(txn))

    def _guard(self, what: str, txn: Transaction, call: Callable[[Emission], None]) -> None:
        if self.mode == "off":
            return
        try:
            call(self._emitter())
        except Exception:  # never the commit's problem
            log.exception("OpenLineage %s event of %s not emitted", what, txn.operation)

    def close(self, timeout_s: float = 2.0) -> None:
        """Send what the HTTP thread still holds (at most ``timeout_s``)."""
        if self._emission is not None:
            self._emission.close(timeout_s)

    # -- reading back (Session.lineage_events) ------------------------------------------------
    def events(
        self, principal: Principal, *, limit: int = 100, job: str | None = None
    ) -> list[dict[str, Any]]:
        """The caller's tenant's latest events, newest first (``read_governance``); the
        tenant comes from the principal only, so no argument reaches another tenant's file."""
        authorize(principal, "read_governance", Resource(principal.tenant, "lineage", "events"))
        if not 1 <= limit <= MAX_EVENTS:
            raise InvalidRequest(
                f"limit {limit} is out of range",
                hint=f"Ask for 1 to {MAX_EVENTS} events (newest first).",
                limit=limit,
            )
        if job is not None and not _JOB.fullmatch(job):
            raise InvalidRequest(
                f"job {job[:80]!r} is not a job name",
                hint="Give a job name as events show it, e.g. ingest.trades or "
                "refresh.mart_trading_activity.",
            )
        return read_events(self.root, principal.tenant, limit=limit, job=job)


# -- reading back -------------------------------------------------------------------------------
def read_events(
    root: Path, tenant: str, *, limit: int = 100, job: str | None = None
) -> list[dict[str, Any]]:
    """The tenant's latest ``limit`` events (of ``job`` only, when named), newest first, from
    its own file: another tenant's events are in another file and never read here."""
    path = events_dir(root, tenant) / EVENTS_FILE
    out: list[dict[str, Any]] = []
    if limit <= 0 or not path.is_file():
        return out
    for line in _lines_backwards(path):
        try:
            event = json.loads(line)
        except ValueError:  # a line cut short by a crash mid-append
            continue
        if not isinstance(event, dict):
            continue
        if job is not None and (event.get("job") or {}).get("name") != job:
            continue
        out.append(event)
        if len(out) >= limit:
            break
    return out


def _lines_backwards(path: Path, block: int = 1 << 16) -> Iterator[bytes]:
    """The file's lines, last first, reading blocks from the end (the file only grows)."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        pos = fh.tell()
        rest = b""
        while pos > 0:
            step = min(block, pos)
            pos -= step
            fh.seek(pos)
            chunk = fh.read(step) + rest
            lines = chunk.split(b"\n")
            rest = lines[0]
            for line in reversed(lines[1:]):
                if line.strip():
                    yield line
        if rest.strip():
            yield rest
