"""Schemathesis against the OpenAPI description (the ``fuzz`` tier, ``make test-fuzz``).

Every operation is called with generated valid and invalid requests, in process (ASGI), on a
warehouse loaded with a small FinBench data set, as a reader and as an admin. No answer may be
a 5xx (nor an exception the app lets escape), and every 4xx carries the error envelope.
Bounded: ``MAX_EXAMPLES`` cases per operation, role and mode (schema-valid, schema-invalid),
about two minutes on 2 cores; ``LEDGERHOUSE_FUZZ_EXAMPLES=500 make test-fuzz`` hunts longer.
"""

from __future__ import annotations

import os
import traceback
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from ledgerhouse import Warehouse
from ledgerhouse.api import create_app
from ledgerhouse.errors import Unauthorized
from ledgerhouse.ingest import LOAD_ORDER
from ledgerhouse.session import Session
from tests.conftest import admin

pytestmark = pytest.mark.fuzz

MAX_EXAMPLES = int(os.environ.get("LEDGERHOUSE_FUZZ_EXAMPLES", "50"))
ROLES = {"reader": ("reader",), "admin": ("admin",)}


class Keys:
    """A valid key per role. A generated call may revoke or rotate one (the key routes take
    any id): a key that no longer authenticates is replaced before the next call."""

    def __init__(self, wh: Session) -> None:
        self.wh = wh
        self.keys = {role: wh.create_api_key(f"fuzz-{role}", r) for role, r in ROLES.items()}

    def header(self, role: str) -> dict[str, str]:
        try:
            self.wh.warehouse.authenticate(f"Bearer {self.keys[role]}")
        except Unauthorized:
            self.keys[role] = self.wh.create_api_key(f"fuzz-{role}", ROLES[role])
        return {"Authorization": f"Bearer {self.keys[role]}"}


@pytest.fixture(scope="module")
def fuzz_wh(tmp_path_factory: pytest.TempPathFactory, finbench_dir: Path) -> Iterator[Session]:
    # its own warehouse: generated calls ingest, train models and create keys
    wh, _ = Warehouse.init(root=tmp_path_factory.mktemp("fuzz") / "wh")
    me = admin(wh)
    for ds in LOAD_ORDER:
        assert me.ingest(ds, finbench_dir / f"{ds}.parquet").status == "committed"
    yield me
    wh.close()


@pytest.fixture(scope="module")
def keys(fuzz_wh: Session) -> Keys:
    return Keys(fuzz_wh)


@pytest.fixture(scope="module")
def api_schema(fuzz_wh: Session) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(fuzz_wh.warehouse))


# Hypothesis drives each operation's strategy directly: schemathesis' pytest plugin reads
# ``Node._nodeid``, which pytest 9.2 no longer has.
BOUNDED = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases on every run: a CI failure reproduces locally
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the run stays bounded
    suppress_health_check=list(HealthCheck),
    database=None,
)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("role", sorted(ROLES))
def test_no_server_error_and_one_error_envelope(  # type: ignore[no-untyped-def]
    api_schema, keys, tally, role: str, mode: GenerationMode
) -> None:
    failures: dict[str, str] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @BOUNDED
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            _call_and_check(case, keys.header(role), tally)

        try:
            run()
        except Unsatisfiable:  # nothing to make invalid (no parameters, a free-form body)
            assert mode is GenerationMode.NEGATIVE, operation.label
        except Exception as exc:  # every operation runs; the failures are reported together
            # the text, and schemathesis' note with the curl command that reproduces it
            failures[operation.label] = "".join(traceback.format_exception_only(exc))[-3000:]
    assert not failures, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())


def _call_and_check(case: Any, headers: dict[str, str], tally: Counter[str]) -> None:
    """No 5xx (schemathesis' not_a_server_error); a 4xx carries the error envelope."""
    response = case.call(headers=headers)
    tally[f"{response.status_code // 100}xx"] += 1
    case.validate_response(response, checks=[not_a_server_error])
    if 400 <= response.status_code < 500:
        body = response.json()
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"code", "message", "hint", "retryable", "details"}, body
        assert isinstance(body["error"]["code"], str) and body["error"]["message"], body
