"""Ingestion: dataset contracts, readers, validation, conformance and exactly-once loading."""

from ledgerhouse.ingest.bounds import ReadLimits
from ledgerhouse.ingest.datasets import CONTRACTS, LOAD_ORDER, contract, render_markdown
from ledgerhouse.ingest.models import BatchReport, Contract
from ledgerhouse.ingest.pipeline import IngestLimits, Ingestor, batch_id_for
from ledgerhouse.ingest.service import IngestService
from ledgerhouse.ingest.tables import INGEST_TABLES, RAW_TABLES
from ledgerhouse.media import format_from_content_type, format_from_path

__all__ = [
    "CONTRACTS",
    "INGEST_TABLES",
    "LOAD_ORDER",
    "RAW_TABLES",
    "BatchReport",
    "Contract",
    "IngestLimits",
    "IngestService",
    "Ingestor",
    "ReadLimits",
    "batch_id_for",
    "contract",
    "format_from_content_type",
    "format_from_path",
    "render_markdown",
]
