"""ISO 4217 minor units: how many decimal places a currency's smallest unit has.

Most currencies have 2 (cents). The exceptions below are ISO 4217's list (amendment 178);
precious metals, SDRs, testing and "no currency" codes have no minor unit (``None``). The money
scale (``model/schema.py: MONEY_SCALE``) must hold every minor unit: a test checks it.
"""

from __future__ import annotations

_MINOR_UNITS: dict[str, int | None] = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
    **dict.fromkeys(
        ["XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA", "XXX"],
        None,
    ),
}


def minor_unit(code: str) -> int | None:
    """Decimal places of ``code``'s minor unit (2 unless ISO 4217 says otherwise)."""
    return _MINOR_UNITS.get(code, 2)


def largest_minor_unit() -> int:
    return max(u for u in _MINOR_UNITS.values() if u is not None)
