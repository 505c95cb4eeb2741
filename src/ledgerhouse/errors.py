"""One root exception for Ledgerhouse.

Every error carries the HTTP status it maps to, a stable machine-readable ``code``, a message
that names the offending value, a ``hint`` that says what to do, and whether the same request
may succeed when sent again (``retryable``). The API and the CLI render them through one
handler each, as the same JSON envelope:
``{"error": {"code", "message", "hint", "retryable", "details"}}``.

Codes are registered once: defining a class registers its ``code`` in ``REGISTRY``, and a
second class with a code already taken is refused when it is defined (a subclass that does not
restate its parent's code is the same error, and is not registered again). The HTTP client
builds its exceptions from ``REGISTRY``, so every error that can cross the wire is defined in
this module, which imports nothing of the server.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

#: Every error code -> the class that raises it (filled as classes are defined).
REGISTRY: dict[str, type[LedgerhouseError]] = {}


class LedgerhouseError(Exception):
    """Root of every error Ledgerhouse raises on purpose."""

    status: int = 500
    code: str = "internal_error"
    retryable: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            _register(cls)

    def __init__(self, message: str, *, hint: str = "", **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "retryable": self.retryable,
            "details": _jsonable(self.details),
        }


def _register(cls: type[LedgerhouseError]) -> None:
    taken = REGISTRY.get(cls.code)
    # the same class defined again (a module reloaded) keeps its code
    if taken is not None and (taken.__module__, taken.__qualname__) != (
        cls.__module__,
        cls.__qualname__,
    ):
        raise TypeError(
            f"error code {cls.code!r} of {cls.__module__}.{cls.__qualname__} is already "
            f"registered by {taken.__module__}.{taken.__qualname__}: give it its own code, or "
            "leave the code out to make it the same error"
        )
    REGISTRY[cls.code] = cls


_register(LedgerhouseError)


def error_class(code: str) -> type[LedgerhouseError]:
    """The class registered for ``code``; the root class for a code it does not know."""
    return REGISTRY.get(code, LedgerhouseError)


class ConfigError(LedgerhouseError):
    status = 400
    code = "config_error"


class NotInstalledError(ConfigError):
    """A configured extension (a query engine) needs a package that is not installed, or is
    not available in this version; the message names it and the hint the pip command."""

    code = "not_installed"


class InvalidRequest(LedgerhouseError):
    """The request itself is malformed (bad parameter, unknown dataset, bad format)."""

    status = 400
    code = "invalid_request"


class NotFound(LedgerhouseError):
    status = 404
    code = "not_found"


class Unauthorized(LedgerhouseError):
    status = 401
    code = "unauthorized"


class Forbidden(LedgerhouseError):
    status = 403
    code = "forbidden"


class Conflict(LedgerhouseError):
    status = 409
    code = "conflict"
    retryable = True


class PayloadTooLarge(LedgerhouseError):
    status = 413
    code = "payload_too_large"


class BodyTimeout(LedgerhouseError):
    """A request body did not arrive in full within its deadline (a stalled or trickled
    upload); the connection is closed."""

    status = 408
    code = "body_timeout"
    retryable = True


class MethodNotAllowed(LedgerhouseError):
    """The route exists, but not for this HTTP method."""

    status = 405
    code = "method_not_allowed"


class HttpError(LedgerhouseError):
    """An HTTP-level refusal by the web framework that no more specific code names."""

    status = 400
    code = "http_error"


class UnknownDataset(InvalidRequest):
    code = "unknown_dataset"


class UnsupportedFormat(InvalidRequest):
    code = "unsupported_format"


class UnprocessableBatch(LedgerhouseError):
    """A batch was rejected whole: the base of the two ways, each with its own code
    (UnreadablePayload, BatchRejected); this class itself is not raised."""

    status = 422
    code = "unprocessable_batch"


class UnreadablePayload(UnprocessableBatch):
    """The payload could not be read as its format (empty, no columns, nested columns)."""

    code = "unreadable_payload"


class BatchRejected(UnprocessableBatch):
    """The batch was read, but failed validation (error rate, missing columns)."""

    code = "batch_rejected"


class RejectedByQuality(UnprocessableBatch):
    """A data-quality check of severity ``error`` failed on what a commit would publish: the
    commit was not made visible and nothing stored changed (``details``: the failing checks with
    their counts and sample rows; the batch report when an ingestion was refused)."""

    code = "rejected_by_quality"


class QueryRejected(LedgerhouseError):
    """A SQL text was refused by the guard before it reached the engine."""

    status = 400
    code = "query_rejected"


class QueryFailed(LedgerhouseError):
    """The engine could not run an accepted query (type error, division by zero...)."""

    status = 400
    code = "query_failed"


class QueryTimeout(LedgerhouseError):
    """A query ran past its time limit, or its caller went away, and was interrupted."""

    status = 408
    code = "query_timeout"
    retryable = True


class Overloaded(LedgerhouseError):
    """Too many queries in flight for the tenant: come back after ``retry_after_s``."""

    status = 429
    code = "overloaded"
    retryable = True


class ApiKeyConflict(Conflict):
    """The key cannot change that way (the tenant's last admin key, or already revoked);
    sending the same request again does not help."""

    code = "api_key_conflict"
    retryable = False


class BatchIdConflict(Conflict):
    """A batch id (Idempotency-Key, --batch-id) already names another batch: other content, or
    another dataset. Sending it again does not help; a new batch id does."""

    code = "batch_id_conflict"
    retryable = False


class StorageError(LedgerhouseError):
    status = 500
    code = "storage_error"


#: What to do about a damaged table (docs/operations.md).
REPAIR_HINT = (
    "Restore the warehouse from a backup (`ledgerhouse restore --from DIR --root NEW`, "
    "docs/operations.md), or put the file back from one; `ledgerhouse check` lists every "
    "damaged file."
)


class StorageDamaged(StorageError):
    """A table a commit names is damaged on disk: a data file missing, truncated or
    unreadable, or its log behind the commit. Not retryable: the repair is an operator's."""

    status = 503
    code = "storage_damaged"
    retryable = False


class StorageFull(StorageError):
    """The disk holding the warehouse is full: the write failed, its files were removed, and
    nothing of it is stored. Sent again once space is freed, it lands once."""

    status = 507
    code = "storage_full"
    retryable = True


def _caused_by(exc: BaseException, texts: tuple[str, ...], errnos: tuple[int, ...] = ()) -> bool:
    """Whether ``exc`` or an exception in its cause chain has one of ``errnos`` or says one
    of ``texts`` (how the OS, delta-rs, SQLite and PostgreSQL word a storage failure)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in errnos:
            return True
        if any(t in str(seen) for t in texts):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a full disk: ENOSPC, as the OS, delta-rs or
    SQLite word it."""
    import errno

    return _caused_by(exc, ("No space left on device", "database or disk is full"),
                      (errno.ENOSPC,))  # fmt: skip


class MetadataUnavailable(LedgerhouseError):
    """The metadata store refuses writes (read-only, locked, or its disk full): what needed
    one was not done, and nothing of it is visible."""

    status = 503
    code = "metadata_unavailable"
    retryable = True


def metadata_refused(exc: BaseException, *, locked: bool = True) -> bool:
    """Whether ``exc`` (or its cause) is the metadata store refusing a write: a read-only
    SQLite database or PostgreSQL transaction, or (``locked``) a locked SQLite database."""
    texts = ("readonly database", "read-only transaction")
    return _caused_by(exc, (*texts, "database is locked") if locked else texts)


class Quiet:
    """A warning said once, then at most once every ``every_s`` with how many it stood for
    (a failing background write must not print a traceback per query)."""

    def __init__(self, every_s: float = 600.0) -> None:
        import threading

        self.every_s = every_s
        self._last = -1e18
        self._since = 0
        self._lock = threading.Lock()

    def due(self) -> int | None:
        """The number of occurrences to report now, or None (stay quiet)."""
        import time

        with self._lock:
            self._since += 1
            now = time.monotonic()
            if now - self._last < self.every_s:
                return None
            self._last, count, self._since = now, self._since, 0
            return count


class StorageUnavailable(StorageError):
    """Reading the warehouse's files failed under a running query (a data file or a spill file
    vanished, a disk error): the request was fine and may succeed when retried."""

    status = 503
    code = "storage_unavailable"
    retryable = True


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` (the closest names to a misspelt ``word``), or ``""``."""
    import difflib

    pool = {str(c).lower(): str(c) for c in candidates}
    close = difflib.get_close_matches(str(word).lower(), list(pool), n=3, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(pool[c]) for c in close) + "?"


def validated(model: Any, data: Any, what: str, hint: str) -> Any:
    """``model.model_validate(data)``; a pydantic error becomes an InvalidRequest that names
    the field (``<what> <field>: <problem>``) and says where the format is documented."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or what
        raise InvalidRequest(f"{what} {field}: {first['msg']}", hint=hint, field=field) from None


#: An absolute POSIX path of two or more parts, not inside a URL or after ``<root>``.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/<>~-])/(?:[^\s\"'`/<>|,;()\[\]]+/)+[^\s\"'`/<>|,;()\[\]]*")


def scrub_paths(text: str, *roots: str | os.PathLike[str]) -> str:
    """``text`` with each of ``roots`` written ``<root>`` and any other absolute path
    ``<path>``: messages from DuckDB, delta-rs or Polars name files, and an answer must not
    tell a client where the server keeps them."""
    for root in sorted({os.fspath(r).rstrip("/") for r in roots if r}, key=len, reverse=True):
        if root:
            text = text.replace(root, "<root>")
    return _ABSOLUTE_PATH.sub("<path>", text)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
