"""Media types, declared once: what an upload may be sent as, and what an answer may come as.

Ingestion (``Content-Type`` of an upload), the HTTP client (the type it sends a file with)
and the API (``Accept`` of an answer) all read these tables; none keeps a list of its own.
This module imports nothing but the errors, so the HTTP client may use it.
"""

from __future__ import annotations

from pathlib import Path

from ledgerhouse.errors import UnsupportedFormat

#: ``Content-Type`` of an upload -> its input format. The first type of each format is the
#: one the client sends it with (``UPLOAD_TYPE``); the others are accepted aliases.
UPLOAD_FORMATS: dict[str, str] = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/json": "json",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/parquet": "parquet",
    "application/vnd.apache.arrow.file": "arrow",
    "application/vnd.apache.arrow.stream": "arrow",
}

#: Input format -> the ``Content-Type`` an upload of it is sent with.
UPLOAD_TYPE: dict[str, str] = {}
for _media, _fmt in UPLOAD_FORMATS.items():
    UPLOAD_TYPE.setdefault(_fmt, _media)

#: File extension -> input format.
EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".parquet": "parquet",
    ".arrow": "arrow",
    ".arrows": "arrow",
    ".ipc": "arrow",
    ".feather": "arrow",
}

#: ``Accept`` media type -> the format of a query, cube or analytics answer.
ANSWER_FORMATS: dict[str, str] = {
    "application/json": "json",
    "text/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/vnd.apache.arrow.stream": "arrow",
}


def format_from_content_type(content_type: str | None) -> str:
    """The input format of an upload sent with ``content_type`` (parameters ignored)."""
    base = (content_type or "").split(";")[0].strip().lower()
    if base in UPLOAD_FORMATS:
        return UPLOAD_FORMATS[base]
    raise UnsupportedFormat(
        f"unsupported Content-Type {content_type!r}",
        hint="Send one of: " + ", ".join(sorted(UPLOAD_FORMATS)),
        content_type=content_type,
    )


def format_from_path(path: Path) -> str:
    """The input format of a file, from its extension."""
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise UnsupportedFormat(
            f"cannot tell the format of {path.name!r} from its extension",
            hint="Use one of " + ", ".join(sorted(EXTENSIONS)) + " or pass --format.",
        )
    return fmt


def negotiate(accept: str | None) -> tuple[str, str]:
    """(answer format, media type) for an ``Accept`` header; JSON when absent or ``*/*``."""
    for part in (accept or "").split(","):
        media = part.split(";")[0].strip().lower()
        if media in ANSWER_FORMATS:
            return ANSWER_FORMATS[media], media
    return "json", "application/json"
