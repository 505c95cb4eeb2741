"""The fuzz tier's tally of generated calls, printed in pytest's closing summary."""

from __future__ import annotations

from collections import Counter

import pytest

CALLS: Counter[str] = Counter()


@pytest.fixture(scope="session")
def tally() -> Counter[str]:
    return CALLS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if CALLS:
        by_class = ", ".join(f"{k}: {v}" for k, v in sorted(CALLS.items()))
        terminalreporter.write_line(f"fuzz: {sum(CALLS.values())} generated calls ({by_class})")
