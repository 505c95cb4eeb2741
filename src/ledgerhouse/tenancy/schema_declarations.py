"""What a tenant declares of its own schema: extensions of a dimension (typed attributes),
cubes and marts, their tables, and the parsing of declarations (every error names the field
and the fix). The service that stores and serves them is ``tenancy/schemas.py``."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pyarrow as pa
import yaml

from ledgerhouse.model.marts import MartDef
from ledgerhouse.model.schema import BOOL, DATE, F64, I64, STR, TS, TableDef, raw_table
from ledgerhouse.tenancy.errors import InvalidSchemaObject

#: The dimensions a tenant may extend: their short name (in the relation) and natural code.
DIMENSIONS: dict[str, tuple[str, str]] = {
    "dim_instrument": ("instrument", "instrument_code"),
    "dim_portfolio": ("portfolio", "portfolio_code"),
    "dim_counterparty": ("counterparty", "counterparty_code"),
}
#: Relation prefixes only tenants' objects use: a shared relation never starts with them, so
#: a table a later release adds cannot be shadowed by a tenant's.
EXTENSION_PREFIX = "ext_"
MART_PREFIX = "tmart_"
KINDS = ("extension", "cube", "mart", "rollup")
ATTRIBUTE_TYPES = ("string", "integer", "number", "decimal(p,s)", "date", "boolean")
#: Columns every extension has; an attribute may not take their names.
RESERVED = frozenset({"valid_from", "valid_to", "is_current", "batch_id", "loaded_at",
                      "effective_date"})  # fmt: skip
MAX_ATTRIBUTES = 100
MAX_OBJECTS = 200  # per tenant: extensions, cubes and marts together
MAX_SQL_CHARS = 20_000

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
COLUMN_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_DECIMAL = re.compile(r"^decimal\(\s*(\d{1,2})\s*,\s*(\d{1,2})\s*\)$")
_ARROW: dict[str, pa.DataType] = {
    "string": STR, "integer": I64, "number": F64, "date": DATE, "boolean": BOOL,
}  # fmt: skip
_TYPE_HINT = "Types: " + ", ".join(ATTRIBUTE_TYPES) + " (e.g. decimal(12,4))."
DOC_HINT = "See docs/tenancy/schemas.md."


@dataclass(frozen=True)
class Attribute:
    """One attribute of an extension."""

    name: str
    type: str  # string | integer | number | decimal | date | boolean
    precision: int = 0
    scale: int = 0
    required: bool = True
    description: str = ""

    @property
    def arrow_type(self) -> pa.DataType:
        if self.type == "decimal":
            return pa.decimal128(self.precision, self.scale)
        return _ARROW[self.type]

    @property
    def type_text(self) -> str:
        return f"decimal({self.precision},{self.scale})" if self.type == "decimal" else self.type

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type_text, "required": self.required,
                "description": self.description}  # fmt: skip


@dataclass(frozen=True)
class Extension:
    """A tenant's attributes of one dimension's members, with SCD2 history by code."""

    name: str
    dimension: str
    attributes: tuple[Attribute, ...]
    description: str = ""

    @property
    def relation(self) -> str:
        return f"{EXTENSION_PREFIX}{DIMENSIONS[self.dimension][0]}_{self.name}"

    @property
    def code(self) -> str:
        return DIMENSIONS[self.dimension][1]

    @property
    def table(self) -> TableDef:
        return TableDef(
            self.relation,
            "core",
            (
                (self.code, STR),
                *((a.name, a.arrow_type) for a in self.attributes),
                ("valid_from", DATE),
                ("valid_to", DATE),
                ("is_current", BOOL),
                ("batch_id", STR),
                ("loaded_at", TS),
            ),
            self.description
            or f"The tenant's own attributes of {self.dimension}, with SCD2 history: one row "
            "per version, valid on [valid_from, valid_to).",
            grain=f"one row per {DIMENSIONS[self.dimension][0]} version",
            natural_key=(self.code, "valid_from"),
        )

    @property
    def raw(self) -> TableDef:
        """The records as received (the contract's columns: code, attributes, effective
        date), from which the versions are computed."""
        columns = ((self.code, STR), *((a.name, a.arrow_type) for a in self.attributes),
                   ("effective_date", DATE))  # fmt: skip
        return raw_table(self.relation, columns)

    def to_dict(self) -> dict[str, Any]:
        return {
            "extension": self.name,
            "dimension": self.dimension,
            "description": self.description,
            "attributes": [a.to_dict() for a in self.attributes],
        }


@dataclass(frozen=True)
class TenantMart:
    """A tenant's SQL mart, rebuilt whole when a relation it reads changes."""

    name: str
    sql: str
    schema: pa.Schema
    reads: tuple[str, ...]
    description: str = ""

    @property
    def relation(self) -> str:
        return f"{MART_PREFIX}{self.name}"

    @property
    def table(self) -> TableDef:
        return TableDef(
            self.relation,
            "mart",
            tuple((f.name, f.type) for f in self.schema),
            self.description or f"The tenant's mart {self.name!r}.",
            grain="as its SQL groups",
        )

    @property
    def mart(self) -> MartDef:
        return MartDef(self.table, {r: "" for r in self.reads}, self.sql)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mart": self.name,
            "sql": self.sql,
            "description": self.description,
            "reads": list(self.reads),
            "schema": base64.b64encode(self.schema.serialize().to_pybytes()).decode(),
        }


@dataclass(frozen=True)
class TenantCube:
    name: str
    text: str  # the YAML, as declared
    reads: tuple[str, ...]  # the tables it joins


@dataclass(frozen=True)
class TenantRollup:
    """A tenant's own rollup of a cube (a shared cube or its own): a pre-aggregation kept for
    this tenant only, declared by its admin or applied from the rollup advisor."""

    name: str
    cube: str
    spec: dict[str, Any]  # dimensions, measures, time_dimension, granularity, segments, ...

    def to_dict(self) -> dict[str, Any]:
        return {"rollup": self.name, "cube": self.cube, **self.spec}


@dataclass(frozen=True)
class TenantSchema:
    """One generation of a tenant's schema, as this process holds it."""

    generation: int
    extensions: dict[str, Extension] = field(default_factory=dict)
    cubes: dict[str, TenantCube] = field(default_factory=dict)
    marts: dict[str, TenantMart] = field(default_factory=dict)
    rollups: dict[str, TenantRollup] = field(default_factory=dict)
    #: (kind, name) of objects dropped: their names stay taken (their data is kept)
    dropped: frozenset[tuple[str, str]] = frozenset()
    records: tuple[dict[str, Any], ...] = ()

    def of_kind(self, kind: str) -> Mapping[str, Any]:
        """The active objects of one kind, by name."""
        kinds: dict[str, Mapping[str, Any]] = {
            "extension": self.extensions, "cube": self.cubes, "mart": self.marts,
            "rollup": self.rollups,
        }  # fmt: skip
        return kinds[kind]

    @cached_property
    def tables(self) -> dict[str, TableDef]:
        out: dict[str, TableDef] = {}
        for ext in self.extensions.values():
            out[ext.relation] = ext.table
            out[ext.raw.relation] = ext.raw
        for mart in self.marts.values():
            out[mart.relation] = mart.table
        return out


EMPTY = TenantSchema(0)


def parse_mapping(declaration: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(declaration, dict):
        return declaration
    if not isinstance(declaration, str) or len(declaration) > 200_000:
        raise InvalidSchemaObject("a declaration is a YAML text of at most 200,000 characters",
                                  hint=DOC_HINT)  # fmt: skip
    try:
        data = yaml.safe_load(declaration)
    except yaml.YAMLError as exc:
        raise InvalidSchemaObject(
            f"the declaration is not valid YAML: {exc}", hint=DOC_HINT
        ) from None
    if not isinstance(data, dict):
        raise InvalidSchemaObject("a declaration is a YAML mapping", hint=DOC_HINT)
    return data


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidSchemaObject(
            f"{what} name {value!r:.60} is not valid",
            hint="Use 1-41 characters: lower-case letters, digits and _, starting with a letter.",
        )
    return value


def parse_extension(data: dict[str, Any]) -> Extension:
    """An extension from its declaration; every error names the field and the fix."""
    unknown = sorted(set(data) - {"extension", "dimension", "description", "attributes"})
    if unknown:
        raise InvalidSchemaObject(
            f"unknown fields {unknown} in the extension",
            hint=f"Fields: extension, dimension, description, attributes. {DOC_HINT}",
        )
    name = _name(data.get("extension"), "extension")
    dimension = data.get("dimension")
    if dimension not in DIMENSIONS:
        raise InvalidSchemaObject(
            f"extension {name!r}: {dimension!r:.60} is not a dimension a tenant may extend",
            hint="Extend one of: " + ", ".join(DIMENSIONS) + ".",
            extension=name,
        )
    code = DIMENSIONS[dimension][1]
    given = data.get("attributes")
    if not isinstance(given, dict) or not given:
        raise InvalidSchemaObject(
            f"extension {name!r} declares no attributes",
            hint="Give attributes: {name: type, ...}, e.g. esg_class: string. " + _TYPE_HINT,
        )
    if len(given) > MAX_ATTRIBUTES:
        raise InvalidSchemaObject(f"extension {name!r} has {len(given)} attributes",
                                  hint=f"Declare at most {MAX_ATTRIBUTES}.")  # fmt: skip
    attributes = []
    for attr, declared in given.items():
        if not isinstance(attr, str) or not COLUMN_NAME.fullmatch(attr):
            raise InvalidSchemaObject(
                f"extension {name!r}: attribute name {attr!r:.60} is not valid",
                hint="Use lower-case letters, digits and _, starting with a letter.",
            )
        if attr in RESERVED or attr == code or attr.startswith("_"):
            raise InvalidSchemaObject(
                f"extension {name!r}: {attr!r} is a column every extension has",
                hint="Choose another attribute name (reserved: "
                + ", ".join(sorted({*RESERVED, code}))
                + ").",
            )
        attributes.append(_attribute(name, attr, declared))
    description = data.get("description") or ""
    if not isinstance(description, str) or len(description) > 2000:
        raise InvalidSchemaObject(f"extension {name!r}: description must be a text",
                                  hint="At most 2,000 characters.")  # fmt: skip
    return Extension(name, dimension, tuple(attributes), description)


def _attribute(ext: str, name: str, declared: Any) -> Attribute:
    spec = {"type": declared} if isinstance(declared, str) else declared
    if not isinstance(spec, dict) or set(spec) - {"type", "required", "description"}:
        raise InvalidSchemaObject(
            f"extension {ext!r}: attribute {name!r} must be a type or a mapping of type, "
            "required and description",
            hint='e.g. esg_score: {type: "decimal(5,2)", required: false} (in YAML, quote a '
            "decimal type inside {...}: its comma separates fields). " + _TYPE_HINT,
        )
    text = str(spec.get("type", "")).strip().lower()
    required = spec.get("required", True)
    description = spec.get("description", "")
    if not isinstance(required, bool) or not isinstance(description, str):
        raise InvalidSchemaObject(
            f"extension {ext!r}: attribute {name!r}: required is true or false, description a text",
            hint=DOC_HINT,
        )
    found = _DECIMAL.fullmatch(text)
    if found:
        precision, scale = int(found.group(1)), int(found.group(2))
        if not 1 <= precision <= 38 or scale > precision:
            raise InvalidSchemaObject(
                f"extension {ext!r}: attribute {name!r}: decimal({precision},{scale}) is out "
                "of range",
                hint="Precision 1-38, scale 0 to the precision.",
            )
        return Attribute(name, "decimal", precision, scale, required, description)
    if text not in _ARROW:
        raise InvalidSchemaObject(
            f"extension {ext!r}: attribute {name!r} has an unknown type {text!r:.40}",
            hint=_TYPE_HINT,
        )
    return Attribute(name, text, 0, 0, required, description)


def parse_mart(data: dict[str, Any]) -> tuple[str, str, str]:
    unknown = sorted(set(data) - {"mart", "sql", "description"})
    if unknown:
        raise InvalidSchemaObject(f"unknown fields {unknown} in the mart",
                                  hint=f"Fields: mart, sql, description. {DOC_HINT}")  # fmt: skip
    name = _name(data.get("mart"), "mart")
    sql = data.get("sql")
    if not isinstance(sql, str) or not sql.strip() or len(sql) > MAX_SQL_CHARS:
        raise InvalidSchemaObject(
            f"mart {name!r} needs its sql: one SELECT of at most {MAX_SQL_CHARS:,} characters",
            hint="e.g. sql: SELECT ... FROM fact_trade GROUP BY ...",
        )
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise InvalidSchemaObject(f"mart {name!r}: description must be a text", hint=DOC_HINT)
    return name, sql.strip().rstrip(";"), description


#: The fields of a rollup declaration besides its name and cube (docs/cubes.md, rollups).
ROLLUP_FIELDS = ("dimensions", "measures", "time_dimension", "granularity", "segments",
                 "description")  # fmt: skip


def parse_rollup(data: dict[str, Any]) -> TenantRollup:
    """A rollup from its declaration (``rollup: <name>``, ``cube: <cube>``, then the fields of
    a cube's rollup); the semantic checks (members, measures) come when it is added."""
    unknown = sorted(set(data) - {"rollup", "cube", *ROLLUP_FIELDS})
    if unknown:
        raise InvalidSchemaObject(
            f"unknown fields {unknown} in the rollup",
            hint=f"Fields: rollup, cube, {', '.join(ROLLUP_FIELDS)}. {DOC_HINT}",
        )
    name = _name(data.get("rollup"), "rollup")
    cube = data.get("cube")
    if not isinstance(cube, str) or not _NAME.fullmatch(cube):
        raise InvalidSchemaObject(
            f"rollup {name!r} needs the cube it pre-aggregates (cube: <name>)",
            hint="List the cubes with `ledgerhouse cubes`.",
            rollup=name,
        )
    spec = {k: data[k] for k in ROLLUP_FIELDS if data.get(k) is not None}
    if not spec.get("measures"):
        raise InvalidSchemaObject(
            f"rollup {name!r} names no measures",
            hint="Give measures: [...] (the cube's measures it keeps), and dimensions: [...].",
            rollup=name,
        )
    return TenantRollup(name, cube, spec)


def build_schema(generation: int, records: list[dict[str, Any]]) -> TenantSchema:
    """The in-memory schema of stored declarations (already validated when added)."""
    extensions: dict[str, Extension] = {}
    cubes: dict[str, TenantCube] = {}
    marts: dict[str, TenantMart] = {}
    rollups: dict[str, TenantRollup] = {}
    dropped: set[tuple[str, str]] = set()
    for rec in sorted(records, key=lambda r: r["created_at"]):
        kind, name, spec = rec["kind"], rec["name"], rec["spec"]
        if spec.get("dropped"):
            dropped.add((kind, name))
        elif kind == "extension":
            attributes = {a.pop("name"): a for a in (dict(a) for a in spec["attributes"])}
            declared = {k: spec[k] for k in ("extension", "dimension", "description")}
            extensions[name] = parse_extension({**declared, "attributes": attributes})
        elif kind == "cube":
            cubes[name] = TenantCube(name, spec["yaml"], tuple(spec.get("reads", ())))
        elif kind == "mart":
            schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(spec["schema"])))
            marts[name] = TenantMart(name, spec["sql"], schema, tuple(spec["reads"]),
                                     spec.get("description", ""))  # fmt: skip
        elif kind == "rollup":
            declared = {k: v for k, v in spec.items() if k in ROLLUP_FIELDS}
            rollups[name] = TenantRollup(name, spec["cube"], declared)
    return TenantSchema(generation, extensions, cubes, marts, rollups, frozenset(dropped),
                        tuple(records))  # fmt: skip
