"""Errors of the governance package (all descend from ``LedgerhouseError``)."""

from __future__ import annotations

from ledgerhouse.errors import Conflict, InvalidRequest, NotFound, RejectedByQuality


class InvalidQualityCheck(InvalidRequest):
    """A quality check declaration is not valid (unknown kind, column or severity, a bad
    parameter): the message names the check and the field, and says the fix."""


class QualityCheckNotFound(NotFound):
    """No quality check of that name in the tenant's own checks."""


class QualityCheckConflict(Conflict):
    """A check of that name exists already (a built-in, a cube folder's or the tenant's)."""

    retryable = False


class QualityGateFailed(RejectedByQuality):
    """A check of severity ``error`` failed inside a commit: the listener raises it, the commit
    is not made, the ingestion reports the batch ``rejected_by_quality``."""


class UnknownMetadataObject(NotFound):
    """No table, column, cube, measure, dimension or glossary term of that name (the message
    suggests the closest names)."""


class InvalidAnnotation(InvalidRequest):
    """An annotation's value is not valid (an unknown classification, an empty tag, a term
    not in the glossary, a field too long): the message names the field and the fix."""
