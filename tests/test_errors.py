"""Error codes are registered once: one class per code, across every module, and a second
class with a code already taken is refused when it is defined."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import ledgerhouse
from ledgerhouse import errors
from ledgerhouse.errors import REGISTRY, LedgerhouseError


def _every_error_class() -> list[type[LedgerhouseError]]:
    for module in pkgutil.walk_packages(ledgerhouse.__path__, "ledgerhouse."):
        importlib.import_module(module.name)
    found, todo = [], [LedgerhouseError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return [c for c in found if not c.__module__.startswith("tests.")]  # ours, not the tests'


def test_every_code_belongs_to_one_class() -> None:
    owners: dict[str, list[str]] = {}
    for cls in _every_error_class():
        if "code" in cls.__dict__ or cls is LedgerhouseError:  # not restated: the same error
            owners.setdefault(cls.code, []).append(f"{cls.__module__}.{cls.__qualname__}")
    shared = {code: names for code, names in owners.items() if len(names) > 1}
    assert not shared, shared
    assert {code: f"{c.__module__}.{c.__qualname__}" for code, c in REGISTRY.items()} == {
        code: names[0] for code, names in owners.items()
    }


def test_a_subclass_without_its_own_code_is_the_same_error() -> None:
    for cls in _every_error_class():
        assert issubclass(cls, REGISTRY[cls.code]), cls


def test_a_second_class_with_a_taken_code_is_refused() -> None:
    with pytest.raises(TypeError, match=r"'overloaded' .* already registered .*Overloaded"):

        class Busy(LedgerhouseError):
            code = "overloaded"

    assert REGISTRY["overloaded"] is errors.Overloaded

    class Busier(errors.Overloaded):  # the same error, specialised: allowed, not registered
        pass

    assert REGISTRY["overloaded"] is errors.Overloaded


def test_the_envelope_says_whether_to_retry() -> None:
    assert errors.Overloaded("busy").to_dict() == {
        "code": "overloaded",
        "message": "busy",
        "hint": "",
        "retryable": True,
        "details": {},
    }
    assert errors.error_class("no_such_code") is LedgerhouseError


def test_every_code_that_crosses_the_wire_is_documented() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "api.md").read_text()
    wire = [code for code, cls in REGISTRY.items() if cls.__module__ == "ledgerhouse.errors"]
    missing = [code for code in wire if f"`{code}`" not in text]
    assert not missing, f"docs/api.md names no {missing}"
