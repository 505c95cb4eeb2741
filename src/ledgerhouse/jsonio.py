"""JSON text with exact decimals: a Decimal is written as a JSON number with its own digits.

``json.dumps`` cannot write a number it did not make from a float or an int; ``dumps`` lets it
write a marked string and then unquotes the marked strings. No pyarrow here: the CLI imports it
at start-up.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any

#: Marks a Decimal's text inside the JSON ``json.dumps`` writes, for ``dumps`` to unquote: the
#: per-process random part keeps a string value from ever looking like one.
_DECIMAL_MARK = "\x00" + secrets.token_hex(8) + ":"
_DECIMAL_TEXT = re.compile(r'"\\u0000' + _DECIMAL_MARK[1:] + r'(-?[0-9]+(?:\.[0-9]+)?)"')


def dumps(
    value: Any, *, indent: int | None = None, default: Callable[[Any], Any] | None = None
) -> str:
    """``json.dumps`` that writes a Decimal as a JSON number with its exact digits (never
    through a float); NaN and infinities must have been replaced by the caller (see
    ``api/formats.py``)."""

    def encode(v: Any) -> Any:
        if isinstance(v, Decimal):
            if not v.is_finite():
                return None
            return _DECIMAL_MARK + format(v, "f")
        if default is None:
            raise TypeError(f"{type(v).__name__} is not JSON serializable")
        return default(v)

    separators = (",", ":") if indent is None else None
    text = json.dumps(value, default=encode, allow_nan=False, indent=indent, separators=separators)
    return _DECIMAL_TEXT.sub(r"\1", text) if "\\u0000" in text else text
