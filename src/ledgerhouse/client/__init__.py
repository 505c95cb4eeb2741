"""Python client for a Ledgerhouse server (HTTP)."""

from ledgerhouse.client.http import Client, RemoteResult

__all__ = ["Client", "RemoteResult"]
