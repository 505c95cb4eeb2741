"""Python client for a Ledgerhouse server (HTTP): the calls of a library ``Session``, answering
with results of the same shape."""

from ledgerhouse.client.http import Client
from ledgerhouse.client.results import ApiKey, Commit, CubeResult, IssuedKey, QueryResult

__all__ = ["ApiKey", "Client", "Commit", "CubeResult", "IssuedKey", "QueryResult"]
