"""A plain sequential average cost in ``decimal.Decimal``, the independent reference of the
exact P&L tests: one trade at a time, each division rounded half to even to 6 places."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

SIX = Decimal("0.000001")


def round6(value: Decimal) -> Decimal:
    return value.quantize(SIX, rounding=ROUND_HALF_EVEN)


@dataclass
class Position:
    quantity: Decimal = Decimal(0)
    basis: Decimal = Decimal(0)  # unsigned: what the open quantity cost (or was sold for)
    realized: Decimal = Decimal(0)

    def trade(self, q: Decimal, price: Decimal) -> None:
        """Apply one trade: an opening trade adds its cash, a reducing one releases basis *
        |q| / |position| and realizes the difference, one through zero closes then opens."""
        cash = round6(abs(q) * price)
        side = 1 if self.quantity > 0 else -1
        if self.quantity == 0 or (q > 0) == (self.quantity > 0):
            self.basis += cash
        elif abs(q) > abs(self.quantity):
            closing = round6(abs(self.quantity) * price)
            self.realized += side * (closing - self.basis)
            self.basis = cash - closing
        else:
            if q == -self.quantity:
                released = self.basis
            else:
                released = round6(self.basis * abs(q) / abs(self.quantity))
            self.realized += side * (cash - released)
            self.basis -= released
        self.quantity += q

    @property
    def signed_basis(self) -> Decimal:
        return self.basis if self.quantity > 0 else -self.basis if self.quantity < 0 else Decimal(0)

    @property
    def average_cost(self) -> Decimal | None:
        return round6(self.basis / abs(self.quantity)) if self.quantity else None
