"""HTTP API adapter (FastAPI)."""

from ledgerhouse.api.app import create_app

__all__ = ["create_app"]
