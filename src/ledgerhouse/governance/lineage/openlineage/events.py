"""The events themselves: built with openlineage-python's classes and facets, emitted through
its client (a ``FileTransport`` per tenant, an ``HttpTransport`` on a background thread).

Imported on the first transaction only: openlineage-python (and the HTTP stacks it loads)
costs a few hundred milliseconds to import, which a read-only command never pays.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attr
from openlineage.client import OpenLineageClient
from openlineage.client.constants import __version__ as OPENLINEAGE_VERSION
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    DatasetFacet,
    JobFacet,
    RunFacet,
    column_lineage_dataset,
    dataset_version_dataset,
    documentation_dataset,
    error_message_run,
    input_statistics_input_dataset,
    job_type_job,
    parent_run,
    processing_engine_run,
    schema_dataset,
    sql_job,
    storage_dataset,
)
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.http import (
    ApiKeyTokenProvider,
    HttpConfig,
    HttpTransport,
    TokenProvider,
)
from openlineage.client.uuid import generate_new_uuid

from ledgerhouse.governance.lineage.openlineage import (
    EVENTS_FILE,
    FACET_SCHEMA,
    HTTP_QUEUE,
    LEDGERHOUSE_VERSION,
    PRODUCER,
    GraphFor,
    batch_namespace,
    events_dir,
    job_name,
    job_namespace,
    refresh_job,
)
from ledgerhouse.model.schema import TableDef

if TYPE_CHECKING:
    from ledgerhouse.governance.lineage.graph import LineageGraph
    from ledgerhouse.storage.commits import Transaction

log = logging.getLogger("ledgerhouse.openlineage")
_MESSAGE_CHARS = 4000


# -- Ledgerhouse's own facets (custom facets: prefixed, with their own schema URL) -------------
@attr.define
class LedgerhouseCommitDatasetFacet(DatasetFacet):
    """The Delta version an output was written at, in which warehouse commit."""

    layer: str
    deltaVersion: int
    previousDeltaVersion: int | None = attr.field(default=None)
    commitId: int | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return f"{FACET_SCHEMA}#/$defs/LedgerhouseCommitDatasetFacet"


@attr.define
class LedgerhouseBatchDatasetFacet(DatasetFacet):
    """A batch as received: its dataset, the SHA-256 of its bytes, format and size."""

    dataset: str
    contentDigest: str
    format: str | None = attr.field(default=None)
    bytes: int | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return f"{FACET_SCHEMA}#/$defs/LedgerhouseBatchDatasetFacet"


@attr.define
class LedgerhouseCommitRunFacet(RunFacet):
    """The warehouse commit a run made (none when it failed or had nothing to write)."""

    operation: str
    outcome: str  # committed | failed | abandoned
    commitId: int | None = attr.field(default=None)
    baseCommitId: int | None = attr.field(default=None)
    tablesWritten: dict[str, int] = attr.field(factory=dict)

    _additional_skip_redact: ClassVar[list[str]] = ["operation", "outcome"]

    @staticmethod
    def _get_schema() -> str:
        return f"{FACET_SCHEMA}#/$defs/LedgerhouseCommitRunFacet"


# -- transports ---------------------------------------------------------------------------------
class HttpSender:
    """Sends events to an OpenLineage HTTP endpoint from one daemon thread (bounded queue)."""

    def __init__(self, url: str, api_key: str | None, timeout_s: float) -> None:
        auth = ApiKeyTokenProvider({"apiKey": api_key}) if api_key else TokenProvider({})
        config = HttpConfig(
            url=url,
            timeout=timeout_s,
            auth=auth,
            # a few quick retries; the thread, not the commit, waits for them
            retry={"total": 2, "read": 2, "connect": 2, "backoff_factor": 0.2,
                   "status_forcelist": [500, 502, 503, 504], "allowed_methods": ["POST"]},
        )  # fmt: skip
        self.client = OpenLineageClient(transport=HttpTransport(config))
        self.queue: queue.Queue[RunEvent | None] = queue.Queue(HTTP_QUEUE)
        self.sent = self.failed = self.dropped = 0
        self._thread: threading.Thread | None = None
        self._closed = False
        self._lock = threading.Lock()

    def send(self, event: RunEvent) -> None:
        with self._lock:
            if self._closed:
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="ledgerhouse-openlineage-http", daemon=True
                )
                self._thread.start()
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            log.warning("OpenLineage HTTP queue full: an event of %s was dropped", event.job.name)

    def _run(self) -> None:
        while True:
            event = self.queue.get()
            try:
                if event is None:
                    return
                self.client.emit(event)
                self.sent += 1
            except Exception as exc:  # the receiver's problem never reaches a commit
                self.failed += 1
                log.warning("OpenLineage event of %s not sent: %s", event and event.job.name, exc)
            finally:
                self.queue.task_done()

    def flush(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until every queued event was sent or given up."""
        deadline = time.monotonic() + timeout_s
        while self.queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            threading.Event().wait(0.01)
        return True

    def close(self, timeout_s: float) -> None:
        """Stop the thread once the queue is sent, waiting ``timeout_s`` at most in all: what
        is still queued then is dropped (the daemon thread dies with the process)."""
        with self._lock:
            thread, self._thread, self._closed = self._thread, None, True
        if thread is None:  # never started, or closed already
            return
        deadline = time.monotonic() + timeout_s
        if not self.flush(timeout_s):
            log.warning("OpenLineage: %d events not sent at close", self.queue.unfinished_tasks)
            return
        try:
            self.queue.put_nowait(None)
        except queue.Full:
            return
        thread.join(max(0.0, deadline - time.monotonic()))


class Emission:
    """Builds each transaction's events with openlineage-python and emits them (the package
    doc); ``OpenLineageEmitter`` makes one on the first transaction and guards every call."""

    def __init__(
        self,
        root: Path,
        tables: Mapping[str, TableDef],
        derived: Collection[str],
        graph: GraphFor,
        extra_inputs: Mapping[str, tuple[str, ...]],
        clock: Callable[[], datetime],
        http: HttpSender | None,
    ) -> None:
        self.root = root
        self.tables = dict(tables)
        self.derived = frozenset(derived)
        self.graph = graph
        self.extra_inputs = dict(extra_inputs)
        self.clock = clock
        self.http = http
        self._files: dict[str, OpenLineageClient] = {}
        self._files_lock = threading.Lock()
        self._runs: dict[int, str] = {}  # id(txn) -> run id, between started and its end

    def started(self, txn: Transaction) -> None:
        run_id = str(generate_new_uuid())
        self._runs[id(txn)] = run_id
        txn.notes["openlineage_run_id"] = run_id
        self._emit(txn.tenant, self._event(RunState.START, txn, run_id))

    def committed(self, txn: Transaction) -> None:
        run_id = self._run_id(txn)
        graph = self._graph(txn.tenant)
        commit_id = txn.commit.id if txn.commit is not None else None
        derived = [r for r in txn.written if r in self.derived]
        for relation in derived:  # each refresh is a job of its own, a child of this run
            self._child_run(txn, graph, run_id, relation, commit_id)
        own = [r for r in txn.written if r not in self.derived]
        outputs = [self._output(txn, graph, r, commit_id, batch=True) for r in own]
        inputs = self._inputs(txn, graph, own, txn.committed)
        event = self._event(
            RunState.COMPLETE, txn, run_id, inputs, outputs, self._commit_facet(txn, "committed")
        )
        self._emit(txn.tenant, event)

    def failed(self, txn: Transaction, error: BaseException) -> None:
        run_id = self._run_id(txn)
        message = f"{type(error).__name__}: {error}"[:_MESSAGE_CHARS]
        facets: dict[str, RunFacet] = {
            "errorMessage": error_message_run.ErrorMessageRunFacet(
                message=message, programmingLanguage="PYTHON", producer=PRODUCER
            ),
            **self._commit_facet(txn, "failed"),
        }
        own = [r for r in txn.written if r not in self.derived]  # rolled back, not outputs
        inputs = self._inputs(txn, self._graph(txn.tenant), own, txn.committed)
        self._emit(txn.tenant, self._event(RunState.FAIL, txn, run_id, inputs, [], facets))

    def abandoned(self, txn: Transaction) -> None:
        run_id = self._run_id(txn)
        inputs = self._inputs(txn, None, [], txn.committed)
        event = self._event(
            RunState.COMPLETE, txn, run_id, inputs, [], self._commit_facet(txn, "abandoned")
        )
        self._emit(txn.tenant, event)

    def _run_id(self, txn: Transaction) -> str:
        # started() may not have run for this observer (registered mid-transaction): a new run
        return self._runs.pop(id(txn), None) or str(generate_new_uuid())

    def _graph(self, tenant: str) -> LineageGraph | None:
        try:
            return self.graph(tenant)
        except Exception:
            log.exception("lineage graph not available for OpenLineage events of %s", tenant)
            return None

    # -- events -------------------------------------------------------------------------------
    def _event(
        self,
        state: RunState,
        txn: Transaction,
        run_id: str,
        inputs: list[InputDataset] | None = None,
        outputs: list[OutputDataset] | None = None,
        run_facets: Mapping[str, RunFacet] | None = None,
        *,
        job: str | None = None,
        job_type: str | None = None,
        sql: str | None = None,
    ) -> RunEvent:
        name = job or job_name(txn.operation)
        facets: dict[str, RunFacet] = {
            "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                version=LEDGERHOUSE_VERSION,
                name="Ledgerhouse",
                openlineageAdapterVersion=OPENLINEAGE_VERSION,
                producer=PRODUCER,
            ),
            **(run_facets or {}),
        }
        job_facets: dict[str, JobFacet] = {
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH",
                integration="LEDGERHOUSE",
                jobType=job_type or _job_type(txn.operation),
                producer=PRODUCER,
            )
        }
        if sql:
            job_facets["sql"] = sql_job.SQLJobFacet(query=sql, dialect="duckdb", producer=PRODUCER)
        return RunEvent(
            eventType=state,
            eventTime=self.clock().isoformat(),
            run=Run(runId=run_id, facets=facets),
            job=Job(namespace=job_namespace(txn.tenant), name=name, facets=job_facets),
            inputs=inputs or [],
            outputs=outputs or [],
            producer=PRODUCER,
        )

    def _child_run(
        self,
        txn: Transaction,
        graph: LineageGraph | None,
        parent_id: str,
        relation: str,
        commit_id: int | None,
    ) -> None:
        run_id = str(generate_new_uuid())
        namespace = job_namespace(txn.tenant)
        parent = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=parent_id),
            job=parent_run.Job(namespace=namespace, name=job_name(txn.operation)),
            root=parent_run.Root(
                run=parent_run.RootRun(runId=parent_id),
                job=parent_run.RootJob(namespace=namespace, name=job_name(txn.operation)),
            ),
            producer=PRODUCER,
        )
        name = refresh_job(relation)
        # a refresh reads the new (same-commit) versions of its sources
        inputs = self._inputs(txn, graph, [relation], txn.versions, batch=False)
        output = self._output(txn, graph, relation, commit_id, batch=False)
        # the refresh's SQL (every month; a refresh runs it for the months that changed)
        sql = next((t.sql for t in graph.jobs(relation) if t.sql), None) if graph else None
        for state, ins, outs in ((RunState.START, [], []), (RunState.COMPLETE, inputs, [output])):
            event = self._event(
                state, txn, run_id, ins, outs, {"parent": parent}, job=name, job_type="REFRESH",
                sql=sql,
            )  # fmt: skip
            self._emit(txn.tenant, event)

    def _commit_facet(self, txn: Transaction, outcome: str) -> dict[str, RunFacet]:
        return {
            "ledgerhouse_commit": LedgerhouseCommitRunFacet(
                operation=txn.operation,
                outcome=outcome,
                commitId=txn.commit.id if txn.commit is not None else None,
                baseCommitId=txn.base.id if txn.base is not None else None,
                tablesWritten=dict(txn.written) if outcome == "committed" else {},
                producer=PRODUCER,
            )
        }

    # -- datasets -----------------------------------------------------------------------------
    def _output(
        self,
        txn: Transaction,
        graph: LineageGraph | None,
        relation: str,
        commit_id: int | None,
        *,
        batch: bool,
    ) -> OutputDataset:
        namespace = job_namespace(txn.tenant)
        table = self.tables.get(relation)
        version = txn.written[relation]
        facets: dict[str, DatasetFacet] = {
            "version": dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=str(version), producer=PRODUCER
            ),
            "storage": storage_dataset.StorageDatasetFacet(
                storageLayer="delta", fileFormat="parquet", producer=PRODUCER
            ),
            "ledgerhouse_commit": LedgerhouseCommitDatasetFacet(
                layer=table.layer if table else "unknown",
                deltaVersion=version,
                previousDeltaVersion=txn.committed.get(relation),
                commitId=commit_id,
                producer=PRODUCER,
            ),
        }
        if table is not None:
            facets["schema"] = schema_facet(table)
            facets["documentation"] = documentation_dataset.DocumentationDatasetFacet(
                description=table.description, producer=PRODUCER
            )
        lineage = column_lineage(namespace, graph, relation)
        if not lineage and batch and table is not None and table.layer == "raw":
            lineage = self._raw_from_batch(txn, table)
        if lineage:
            facets["columnLineage"] = column_lineage_dataset.ColumnLineageDatasetFacet(
                fields=lineage, producer=PRODUCER
            )
        return OutputDataset(namespace=namespace, name=relation, facets=facets)

    def _raw_from_batch(
        self, txn: Transaction, table: TableDef
    ) -> dict[str, column_lineage_dataset.Fields]:
        """A raw table no transform writes holds the batch as received: each contract column
        is the batch's field of that name (the ``_`` bookkeeping columns are generated)."""
        batch = _batch_note(txn)
        if batch is None or batch.get("dataset") != table.name:
            return {}
        namespace, name = batch_namespace(txn.tenant), str(batch["batch_id"])
        identity = [column_lineage_dataset.Transformation(type="DIRECT", subtype="IDENTITY")]

        def field(col: str) -> column_lineage_dataset.Fields:
            source = column_lineage_dataset.InputField(
                namespace=namespace, name=name, field=col, transformations=identity
            )
            return column_lineage_dataset.Fields(
                inputFields=[source],
                transformationDescription="as received",
                transformationType="IDENTITY",
            )

        return {col: field(col) for col in table.column_names if not col.startswith("_")}

    def _inputs(
        self,
        txn: Transaction,
        graph: LineageGraph | None,
        outputs: list[str],
        versions: Mapping[str, int],
        *,
        batch: bool = True,
    ) -> list[InputDataset]:
        """The batch (when the body noted one) and the relations the outputs are made from,
        each at the version read; the outputs themselves are not inputs of the run."""
        out: list[InputDataset] = []
        note = _batch_note(txn) if batch else None
        if note is not None:
            facets: dict[str, DatasetFacet] = {
                "ledgerhouse_batch": LedgerhouseBatchDatasetFacet(
                    dataset=str(note.get("dataset", "")),
                    contentDigest=str(note.get("content_digest", "")),
                    format=note.get("format"),
                    bytes=note.get("bytes"),
                    producer=PRODUCER,
                )
            }
            if note.get("content_digest"):
                facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
                    datasetVersion=str(note["content_digest"]), producer=PRODUCER
                )
            stats = input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                rowCount=note.get("rows"), size=note.get("bytes"), producer=PRODUCER
            )
            out.append(
                InputDataset(
                    namespace=batch_namespace(txn.tenant),
                    name=str(note["batch_id"]),
                    facets=facets,
                    inputFacets={"inputStatistics": stats},
                )
            )
        written = set(outputs) if not batch else set(txn.written)
        upstream: dict[str, None] = {}
        for relation in outputs:
            sources = [s for t in graph.jobs(relation) for s in t.inputs] if graph else []
            for source in sources or self.extra_inputs.get(relation, ()):
                if source not in written and not source.startswith("cube:"):
                    upstream[source] = None
        for source in sorted(upstream):
            facets = {}
            if source in versions:
                facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
                    datasetVersion=str(versions[source]), producer=PRODUCER
                )
            out.append(InputDataset(namespace=job_namespace(txn.tenant), name=source,
                                    facets=facets))  # fmt: skip
        return out

    # -- emission -----------------------------------------------------------------------------
    def _emit(self, tenant: str, event: RunEvent) -> None:
        try:
            self._file_client(tenant).emit(event)
        except Exception:
            log.exception("OpenLineage event of %s not written", event.job.name)
        if self.http is not None:
            self.http.send(event)

    def _file_client(self, tenant: str) -> OpenLineageClient:
        with self._files_lock:
            client = self._files.get(tenant)
            if client is None:
                folder = events_dir(self.root, tenant)
                folder.mkdir(parents=True, exist_ok=True)
                config = FileConfig(log_file_path=str(folder / EVENTS_FILE), append=True)
                client = OpenLineageClient(transport=FileTransport(config))
                self._files[tenant] = client
            return client

    def close(self, timeout_s: float) -> None:
        if self.http is not None:
            self.http.close(timeout_s)


def _job_type(operation: str) -> str:
    kind = operation.split(":", 1)[0]
    return {"ingest": "INGESTION", "ml_score": "ML_SCORING", "init": "INIT",
            "upgrade": "UPGRADE"}.get(kind, kind.upper())  # fmt: skip


def _batch_note(txn: Transaction) -> dict[str, Any] | None:
    """The batch the body noted (``txn.notes["inputs"]``), else the one its ledger entry names."""
    report = txn.report or {}
    for note in txn.notes.get("inputs") or ():
        if isinstance(note, Mapping) and note.get("batch_id"):
            same = report.get("batch_id") == note["batch_id"]
            return {"rows": report.get("rows_received") if same else None, **note}
    if report.get("batch_id"):
        return {
            "batch_id": report["batch_id"],
            "dataset": report.get("dataset"),
            "content_digest": report.get("content_digest"),
            "rows": report.get("rows_received"),
        }
    return None


def schema_facet(table: TableDef) -> schema_dataset.SchemaDatasetFacet:
    """The table's columns with their Arrow types, in order."""
    return schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(name=n, type=str(t), ordinal_position=i)
            for i, (n, t) in enumerate(table.columns, start=1)
        ],
        producer=PRODUCER,
    )


def column_lineage(
    namespace: str, graph: LineageGraph | None, relation: str
) -> dict[str, column_lineage_dataset.Fields]:
    """The graph's direct sources of each output column of ``relation``; a generated column
    (no source) has an empty list and its note (e.g. ``generated: surrogate key``)."""
    if graph is None:
        return {}
    notes = graph.notes(relation)
    return {
        column: column_lineage_dataset.Fields(
            inputFields=[
                column_lineage_dataset.InputField(namespace=namespace, name=ref.relation,
                                                  field=ref.column)
                for ref in refs
            ],
            transformationDescription=notes.get(column),
        )
        for column, refs in sorted(graph.columns(relation).items())
    }  # fmt: skip
