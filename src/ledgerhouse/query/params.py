"""Query parameters: a flat list of scalars, one per ``?`` / ``$n`` placeholder.

DuckDB binds a Python list or dict as a LIST or STRUCT value, and converting a deeply nested one
overflowed a recursion limit (an internal error); nothing in Ledgerhouse needs either, so a
parameter is a scalar.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from ledgerhouse.errors import InvalidRequest

#: What JSON can send; the Python library also binds these Python scalars.
JSON_SCALARS: tuple[type, ...] = (str, int, float, bool)
PYTHON_SCALARS: tuple[type, ...] = (*JSON_SCALARS, Decimal, date, datetime, time, timedelta, UUID)
HINT = (
    "Pass one string, number, boolean or null per ? or $n placeholder; for several values "
    "write several placeholders (IN (?, ?))."
)


def params_problem(params: object, scalars: tuple[type, ...] = JSON_SCALARS) -> str | None:
    """What is wrong with ``params`` (None: nothing)."""
    if params is None:
        return None
    if isinstance(params, str | bytes) or not isinstance(params, Sequence):
        return f"params must be a list of values, not {type(params).__name__}"
    for i, value in enumerate(params):
        if value is not None and not isinstance(value, scalars):
            return (
                f"params[{i}] is a {type(value).__name__}: params must be a flat list of "
                "scalars (strings, numbers, booleans or nulls)"
            )
    return None


def check_params(params: Sequence[Any] | None) -> list[Any] | None:
    """``params`` as a list, or InvalidRequest naming the first value that is not a scalar."""
    problem = params_problem(params, PYTHON_SCALARS)
    if problem is not None:
        raise InvalidRequest(problem, hint=HINT)
    return None if params is None else list(params)
