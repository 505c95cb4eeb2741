"""Reading check declarations (YAML) and validating them against the warehouse's tables.

A file (built-in, of the cube folder, or a tenant's upload) is::

    checks:
      - name: fact_trade_keys_not_null     # optional: <relation>_<kind>[_<column>] by default
        relation: fact_trade
        kind: not_null
        severity: error                    # warn (default) or error
        description: Every live trade has its keys.
        columns: [trade_id, portfolio_key, instrument_key]

Everything but name, relation, kind, severity and description is a parameter of the kind.
Each problem is an ``InvalidQualityCheck`` naming the check, the field and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pyarrow as pa
import yaml

from ledgerhouse.errors import LedgerhouseError, did_you_mean
from ledgerhouse.governance.errors import InvalidQualityCheck
from ledgerhouse.governance.quality.kinds import KindRegistry
from ledgerhouse.governance.quality.models import SEVERITIES, CheckSpec, Origin
from ledgerhouse.model.schema import TableDef

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,127}$")
_FIELDS = ("name", "relation", "kind", "severity", "description")
HINT = "See docs/governance/quality.md for the check kinds and their parameters."
#: Most checks one upload may declare.
MAX_CHECKS = 500


@dataclass(frozen=True)
class Validation:
    """What validating a declaration needs: the relations (name -> table) and the SQL guard
    (``guard_sql(sql) -> relations read``, raising QueryRejected)."""

    tables: Mapping[str, TableDef]
    guard_sql: Callable[[str], frozenset[str]]
    source: str = ""

    def invalid(self, spec: CheckSpec, fld: str, problem: str, **details: Any) -> NoReturn:
        where = f" ({self.source})" if self.source else ""
        choices = details.pop("choices", None)
        hint = f"Use one of: {', '.join(choices)}." if choices else HINT
        raise InvalidQualityCheck(
            f"check {spec.name!r}{where} {fld}: {problem}",
            hint=hint,
            check=spec.name,
            field=fld,
            **details,
        )

    def known_params(
        self, spec: CheckSpec, params: Mapping[str, str], required: tuple[str, ...]
    ) -> None:
        for key in spec.params:
            if key not in params:
                known = ", ".join(params) or "none"
                self.invalid(
                    spec,
                    key,
                    f"kind {spec.kind} has no parameter {key!r}.{did_you_mean(key, params)} "
                    f"Its parameters: {known}",
                )
        for key in required:
            if spec.params.get(key) in (None, "", []):
                self.invalid(spec, key, f"kind {spec.kind} needs {key} ({params[key]})")

    def table(self, spec: CheckSpec, relation: str, fld: str = "relation") -> TableDef:
        table = self.tables.get(relation)
        if table is None:
            self.invalid(
                spec,
                fld,
                f"unknown relation {relation!r}.{did_you_mean(relation, self.tables)}",
            )
        return table

    def _column(self, spec: CheckSpec, table: TableDef, name: Any, fld: str, temporal: bool) -> str:
        if not isinstance(name, str):
            self.invalid(spec, fld, f"a column name is text, not {name!r}")
        types = dict(table.columns)
        if name not in types:
            self.invalid(
                spec,
                fld,
                f"{table.relation} has no column {name!r}.{did_you_mean(name, types)}",
            )
        if temporal and not (pa.types.is_temporal(types[name])):
            self.invalid(spec, fld, f"{table.relation}.{name} is not a date or a timestamp")
        return name

    def column(self, spec: CheckSpec, fld: str, *, temporal: bool = False) -> str:
        table = self.table(spec, spec.relation)
        return self._column(spec, table, spec.params.get(fld), fld, temporal)

    def columns(self, spec: CheckSpec, fld: str) -> list[str]:
        value = spec.params.get(fld)
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names:
            self.invalid(spec, fld, "must be a column name or a list of them")
        table = self.table(spec, spec.relation)
        return [self._column(spec, table, n, fld, False) for n in names]

    def qualified(self, spec: CheckSpec, fld: str, *, temporal: bool = False) -> tuple[str, str]:
        """``relation.column`` of a parameter, both checked."""
        value = spec.params.get(fld)
        if not isinstance(value, str) or value.count(".") != 1:
            self.invalid(spec, fld, f"write relation.column, not {value!r}")
        relation, column = value.split(".")
        table = self.table(spec, relation, fld)
        return relation, self._column(spec, table, column, fld, temporal)

    def number(
        self,
        spec: CheckSpec,
        fld: str,
        default: float,
        *,
        integer: bool = False,
        low: float | None = None,
    ) -> Any:
        value = spec.params.get(fld, default)
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok:
            self.invalid(spec, fld, f"must be {'an integer' if integer else 'a number'}")
        if low is not None and value < low:
            self.invalid(spec, fld, f"must be at least {low:g}")
        return value

    def guard(self, spec: CheckSpec, sql: str) -> frozenset[str]:
        try:
            return self.guard_sql(sql)
        except LedgerhouseError as exc:
            self.invalid(spec, "sql", f"{exc.message}", reason=exc.code)


def parse_checks(
    text: str,
    *,
    origin: Origin,
    registry: KindRegistry,
    env: Validation,
) -> list[CheckSpec]:
    """The checks a YAML text declares, each validated; the first problem raises."""
    where = f" ({env.source})" if env.source else ""
    try:
        _refuse_aliases(text, where)
        raw = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise InvalidQualityCheck(
            f"quality checks{where} are not valid YAML: {str(exc).splitlines()[0]}", hint=HINT
        ) from None
    except RecursionError:
        raise InvalidQualityCheck(
            f"quality checks{where} are nested too deeply to read", hint=HINT
        ) from None
    if isinstance(raw, dict) and set(raw) <= {"checks"}:
        raw = raw.get("checks")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidQualityCheck(
            f"quality checks{where}: expected a list under 'checks:', got {type(raw).__name__}",
            hint=HINT,
        )
    if len(raw) > MAX_CHECKS:
        raise InvalidQualityCheck(
            f"quality checks{where}: {len(raw)} checks; at most {MAX_CHECKS} per file",
            hint="Split them into several files.",
        )
    specs: list[CheckSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(raw, 1):
        spec = declared(item, i, origin, registry, env)
        if spec.name in seen:
            raise InvalidQualityCheck(
                f"check {spec.name!r}{where} is declared twice", hint="Give each check its name."
            )
        seen.add(spec.name)
        specs.append(spec)
    return specs


def _refuse_aliases(text: str, where: str) -> None:
    """Refuse YAML aliases before anything is built: nine nested anchors of ten aliases each
    expand to 10**9 values (the "billion laughs") when a check's fields are read, printed or
    stored. A check declaration never needs one; the parser's events are read, not the
    document, so the refusal costs a scan of the text."""
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.AliasEvent):
            raise InvalidQualityCheck(
                f"quality checks{where} use a YAML alias (*{event.anchor}): aliases are not "
                "accepted in check declarations",
                hint="Write each value out in full.",
            )


def declared(
    item: Any, index: int, origin: Origin, registry: KindRegistry, env: Validation
) -> CheckSpec:
    where = f" ({env.source})" if env.source else ""
    if not isinstance(item, dict):
        raise InvalidQualityCheck(
            f"check #{index}{where}: expected a mapping (relation:, kind:, ...), got {item!r}",
            hint=HINT,
        )
    relation, kind_name = item.get("relation"), item.get("kind")
    label = str(item.get("name") or f"#{index}")
    for fld, value in (("relation", relation), ("kind", kind_name)):
        if not isinstance(value, str) or not value:
            raise InvalidQualityCheck(
                f"check {label!r}{where}: {fld} is required", hint=HINT, check=label, field=fld
            )
    assert isinstance(relation, str) and isinstance(kind_name, str)
    kind = registry.get(kind_name, check=label)
    params = {k: v for k, v in item.items() if k not in _FIELDS}
    column = params.get("column") or params.get("columns") or params.get("rule")
    suffix = f"_{column}" if isinstance(column, str) else ""
    name = str(item.get("name") or f"{relation}_{kind_name}{suffix}")
    if not _NAME.fullmatch(name):
        raise InvalidQualityCheck(
            f"check name {name[:80]!r}{where} is not valid",
            hint="Use 1-128 characters: a letter, then letters, digits, '_', '.', '-'.",
            check=name,
            field="name",
        )
    severity = item.get("severity", "warn")
    description = item.get("description") or ""
    spec = CheckSpec(
        name,
        relation,
        kind_name,
        severity,
        str(description),
        params,
        origin,
    )
    if severity not in SEVERITIES:
        env.invalid(
            spec,
            "severity",
            f"unknown severity {severity!r}.{did_you_mean(str(severity), SEVERITIES)}",
            choices=list(SEVERITIES),
        )
    env.table(spec, relation)
    normalized = kind.validate(spec, env)
    return CheckSpec(name, relation, kind_name, spec.severity, spec.description, normalized, origin)


def load_folder(
    folder: Path, *, origin: Origin, registry: KindRegistry, env: Validation
) -> list[CheckSpec]:
    """Every check of the ``*.yaml`` files of ``folder`` (none when it does not exist)."""
    specs: list[CheckSpec] = []
    if not folder.is_dir():
        return specs
    for path in sorted(folder.glob("*.yaml")):
        file_env = Validation(env.tables, env.guard_sql, source=path.name)
        specs.extend(parse_checks(path.read_text(), origin=origin, registry=registry, env=file_env))
    return specs
