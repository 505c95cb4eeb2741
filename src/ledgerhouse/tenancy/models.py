"""The principal that accompanies every call into a service."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    tenant: str
    user: str
    roles: tuple[str, ...] = ("admin",)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles
