"""The registry of check kinds: an interface, a registry, lazy imports (STYLE.md point 3).

A kind turns a declared check (``CheckSpec``) into DuckDB SQL over the rows a commit changed
and judges the answer. The built-in kinds (``governance/quality/builtin.py``) register the way
a third party would: a module named in ``DEFAULT_KINDS`` (or loaded with
``KindRegistry.default().load("my_checks")`` before a warehouse opens) whose
``register(registry)`` adds its kinds::

    # my_checks.py
    def register(registry):
        registry.add(MyKind())   # name, params, validate, reads, every_commit, run
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from ledgerhouse.errors import NotInstalledError, did_you_mean
from ledgerhouse.governance.errors import InvalidQualityCheck

if TYPE_CHECKING:
    from ledgerhouse.governance.quality.models import CheckSpec, Outcome
    from ledgerhouse.governance.quality.runner import RunContext
    from ledgerhouse.governance.quality.validation import Validation

#: Modules whose ``register(registry)`` adds the kinds every warehouse has.
DEFAULT_KINDS: tuple[str, ...] = ("ledgerhouse.governance.quality.builtin",)


class CheckKind(Protocol):
    """One kind of check (``not_null``, ``range``...)."""

    #: the name a YAML declaration gives as ``kind:``
    name: str
    #: the parameters it accepts (name -> what it is, for error messages and the docs)
    params: Mapping[str, str]

    def validate(self, spec: CheckSpec, env: Validation) -> dict[str, Any]:  # pragma: no cover
        """The check's parameters, normalized; raise ``InvalidQualityCheck`` (``env.invalid``)
        naming the check, the field and the fix when one is wrong."""
        ...

    def reads(self, spec: CheckSpec) -> frozenset[str]:  # pragma: no cover - protocol
        """The relations whose change makes the check run in a commit."""
        ...

    def every_commit(self, spec: CheckSpec) -> bool:  # pragma: no cover - protocol
        """Whether it runs in every commit, changed or not (freshness: a feed that did not
        change is the one that goes stale)."""
        ...

    def run(self, spec: CheckSpec, ctx: RunContext) -> Outcome:  # pragma: no cover
        """Run the check on the commit ``ctx`` describes."""
        ...


class KindRegistry:
    """Kinds by name; ``load(module)`` imports a module and lets it register its kinds."""

    def __init__(self) -> None:
        self._kinds: dict[str, CheckKind] = {}
        self._loaded: set[str] = set()
        self._lock = threading.Lock()

    _default: KindRegistry | None = None

    @classmethod
    def default(cls) -> KindRegistry:
        """The process's registry, with the ``DEFAULT_KINDS`` modules loaded on first use."""
        if cls._default is None:
            registry = cls()
            for module in DEFAULT_KINDS:
                registry.load(module)
            cls._default = registry
        return cls._default

    def add(self, kind: CheckKind) -> None:
        """Register ``kind``; a second kind of the same name replaces the first."""
        self._kinds[kind.name] = kind

    def load(self, module: str) -> None:
        """Import ``module`` and call its ``register(self)`` (once per module)."""
        with self._lock:
            if module in self._loaded:
                return
            try:
                loaded = importlib.import_module(module)
            except ImportError as exc:
                raise NotInstalledError(
                    f"quality check kinds module {module!r} cannot be imported: {exc}",
                    hint=f"Install the package that provides {module!r} (pip install ...).",
                ) from exc
            loaded.register(self)
            self._loaded.add(module)

    def get(self, name: str, *, check: str = "") -> CheckKind:
        kind = self._kinds.get(name)
        if kind is None:
            where = f"check {check!r}: " if check else ""
            raise InvalidQualityCheck(
                f"{where}unknown check kind {name!r}.{did_you_mean(name, self._kinds)}",
                hint="Use one of: " + ", ".join(sorted(self._kinds)) + ".",
                check=check,
                field="kind",
            )
        return kind

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def __contains__(self, name: object) -> bool:
        return name in self._kinds
