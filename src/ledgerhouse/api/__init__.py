"""HTTP API adapter (FastAPI)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ledgerhouse.api.app import create_app


def __getattr__(name: str) -> Any:
    # imported on first use: the CLI reads the record schemas (api/schemas) without the app
    if name == "create_app":
        from ledgerhouse.api.app import create_app

        return create_app
    raise AttributeError(f"module 'ledgerhouse.api' has no attribute {name!r}")


__all__ = ["create_app"]
