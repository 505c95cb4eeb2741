"""A tenant's own schema: extensions of the shared dimensions, cubes and marts of its own.

Each tenant may declare (``manage_schema``: its admins):

- an **extension** of ``dim_instrument``, ``dim_portfolio`` or ``dim_counterparty``: typed
  attributes of the dimension's members, stored in the tenant-only table
  ``ext_<dimension>_<name>`` (the member's code, the attributes, ``valid_from``,
  ``valid_to``, ``is_current``, ``batch_id``, ``loaded_at``) with SCD2 history by code, loaded
  as the dataset of the same name through ingestion (``ingest/extensions.py``);
- a **cube** in the format of docs/cubes.md, over the shared tables and its own;
- a **mart**: a SELECT over the relations it may read, materialized as ``tmart_<name>`` and
  rebuilt in the same commit as any change of what it reads (``query/marts.py``);
- a **rollup** of a cube (a shared cube or its own; its own cubes may also declare
  ``rollups:``): a pre-aggregation kept for this tenant only, month-partitioned and refreshed
  in the commit of the facts like the shared rollups, used by this tenant's cube queries only
  (the rollup advisor, ``semantic/advisor.py``, proposes them from the tenant's query log).

The declarations live in the metadata store (``storage/schemas.py``); this service validates
them, keeps each tenant's tables in memory by its schema generation (one primary-key read per
use, so a change made by another process is seen on the next call), and creates the tables
in a commit of their own. Another tenant never sees them: its relations, cubes and catalog are
built from its own declarations only. Checking a cube and probing a mart's SQL need the
semantic layer and the query service: the composition root passes them in (``SchemaPorts``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import yaml

from ledgerhouse.access import Principal, Resource, authorize
from ledgerhouse.errors import LedgerhouseError
from ledgerhouse.model.marts import MartDef
from ledgerhouse.model.schema import TableDef
from ledgerhouse.storage.commits import CommitWriter
from ledgerhouse.storage.metadata import MetadataStore
from ledgerhouse.tenancy.errors import (
    InvalidSchemaObject,
    SchemaObjectExists,
    SchemaObjectInUse,
    UnknownSchemaObject,
)
from ledgerhouse.tenancy.schema_declarations import (
    COLUMN_NAME,
    DOC_HINT,
    EMPTY,
    KINDS,
    MART_PREFIX,
    MAX_OBJECTS,
    ROLLUP_FIELDS,
    TenantMart,
    TenantRollup,
    TenantSchema,
    build_schema,
    parse_extension,
    parse_mapping,
    parse_mart,
    parse_rollup,
)


@dataclass(frozen=True)
class SchemaPorts:
    """What the service needs from the other domains (the composition root wires them)."""

    #: every shared relation (a tenant's may not take their names)
    shared_relations: Mapping[str, TableDef]
    #: the shared cubes' names
    shared_cubes: Callable[[], Collection[str]]
    #: ``check_cube(tenant, yaml_text, relations) -> (name, tables it joins)``, raising
    #: InvalidRequest with the problem (the cube loader's checks)
    check_cube: Callable[[str, str, Mapping[str, TableDef]], tuple[str, frozenset[str]]]
    #: ``probe_mart(principal, sql) -> (result schema, relations read)``: the SQL through the
    #: guard, as the caller, on the latest commit (no row returned)
    probe_mart: Callable[[Principal, str], tuple[pa.Schema, frozenset[str]]]
    #: ``plan_rollups(tenant, cubes, rollups) -> {relation: (table, relations it reads)}``:
    #: every rollup table the tenant would have with its own cubes' YAML ``cubes`` and rollups
    #: ``rollups``, checked (InvalidSchemaObject naming the problem); empty without rollups
    plan_rollups: Callable[
        [str, Mapping[str, str], Mapping[str, TenantRollup]],
        Mapping[str, tuple[TableDef, frozenset[str]]],
    ] = lambda _tenant, _cubes, _rollups: {}


class SchemaService:
    def __init__(self, meta: MetadataStore, writer: CommitWriter, ports: SchemaPorts) -> None:
        self.meta = meta
        self.writer = writer
        self.ports = ports
        self._cache: dict[str, TenantSchema] = {}
        self._lock = threading.Lock()
        #: ``memo(key, read)``: ``read()`` once per call of a reader (the query service's
        #: scope: one generation read per query, however many services ask)
        self.memo: Callable[[tuple[Any, ...], Callable[[], TenantSchema]], TenantSchema] = (
            lambda _key, read: read()
        )

    # -- the tenant's schema, as the other services read it -----------------------------------
    def schema(self, tenant: str) -> TenantSchema:
        """The tenant's schema at its current generation (read again when it changed)."""
        return self.memo(("schema", tenant), lambda: self._schema(tenant))

    def _schema(self, tenant: str) -> TenantSchema:
        generation = self.meta.schemas.generation(tenant)
        held = self._cache.get(tenant)
        if held is not None and held.generation == generation:
            return held
        if generation == 0:  # the common case: a tenant with no schema of its own
            return EMPTY
        generation, records = self.meta.schemas.objects(tenant)
        built = build_schema(generation, records)
        with self._lock:
            self._cache[tenant] = built
        return built

    def relations(self, tenant: str) -> Mapping[str, TableDef]:
        """The tenant's own relations (extensions, their raw tables, marts)."""
        return self.schema(tenant).tables

    def marts(self, tenant: str) -> tuple[MartDef, ...]:
        """The tenant's marts, in the order they were declared (a mart may read an earlier
        one)."""
        return tuple(m.mart for m in self.schema(tenant).marts.values())

    def derived_from(self, tenant: str) -> dict[str, tuple[str, ...]]:
        """Each of the tenant's marts -> the relations it reads (reading a mart reads them)."""
        return {m.relation: m.reads for m in self.schema(tenant).marts.values()}

    def extended(self, tenant: str) -> dict[str, tuple[str, str]]:
        """Each of the tenant's extension tables (and their raw tables) -> the dimension it
        extends and the code column it shares with it (a row policy on the dimension's
        members applies to them by that code)."""
        out: dict[str, tuple[str, str]] = {}
        for ext in self.schema(tenant).extensions.values():
            out[ext.relation] = out[ext.raw.relation] = (ext.dimension, ext.code)
        return out

    # -- reads --------------------------------------------------------------------------------
    def objects(self, principal: Principal) -> list[dict[str, Any]]:
        """Every extension, cube and mart of the caller's tenant."""
        authorize(principal, "read")
        schema = self.schema(principal.tenant)
        out = []
        for rec in schema.records:
            kind, name, spec = rec["kind"], rec["name"], rec["spec"]
            item: dict[str, Any] = {
                "kind": kind,
                "name": name,
                "status": "dropped" if spec.get("dropped") else "active",
                "relation": spec.get("relation"),
                "description": spec.get("description", ""),
                "created_by": rec["created_by"],
                "created_at": rec["created_at"],
                "reads": list(spec.get("reads", [])),
            }
            if kind == "extension":
                item["dimension"] = spec["dimension"]
                item["attributes"] = spec["attributes"]
            if kind == "mart":
                item["sql"] = spec["sql"]
            if kind == "cube":
                item["yaml"] = spec["yaml"]
            if kind == "rollup":
                item["cube"] = spec["cube"]
                item["rollup"] = {k: v for k, v in spec.items() if k in ROLLUP_FIELDS}
            out.append(item)
        return out

    # -- changes ------------------------------------------------------------------------------
    def add(self, principal: Principal, declaration: str | dict[str, Any]) -> dict[str, Any]:
        """Add one object from its declaration (YAML text or a mapping): an ``extension:``, a
        ``mart:`` or a cube (a ``fact:``, in the format of docs/cubes.md)."""
        data = parse_mapping(declaration)
        if "extension" in data:
            return self.add_extension(principal, data)
        if "mart" in data:
            return self.add_mart(principal, data)
        if "rollup" in data:
            return self.add_rollup(principal, data)
        if "fact" in data:
            text = declaration if isinstance(declaration, str) else yaml.safe_dump(data)
            return self.add_cube(principal, text)
        raise InvalidSchemaObject(
            "the declaration is neither an extension, a mart, a rollup nor a cube",
            hint="Start it with `extension: <name>`, `mart: <name>`, `rollup: <name>`, or give "
            f"a cube (name, fact, dimensions, measures). {DOC_HINT}",
        )

    def add_extension(self, principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
        ext = parse_extension(data)
        tenant = self._authorize(principal, ext.name)
        self._free(tenant, "extension", ext.name, ext.relation)
        spec = {**ext.to_dict(), "relation": ext.relation}
        self.meta.schemas.put(tenant, "extension", ext.name, spec, principal.user)
        # the tables join a commit of their own (recovery knows them from the declaration)
        with self.writer.transaction(tenant, f"schema:{ext.relation}") as txn:
            for table in (ext.table, ext.raw):
                if table.relation not in txn.committed:
                    txn.create(table)
        self._audit(principal, "schema_add", "extension", ext.name, ext.relation)
        return self._record(principal, "extension", ext.name)

    def add_cube(self, principal: Principal, text: str) -> dict[str, Any]:
        if not isinstance(text, str) or len(text) > 200_000:
            raise InvalidSchemaObject("a cube is a YAML text of at most 200,000 characters",
                                      hint=f"See docs/cubes.md. {DOC_HINT}")  # fmt: skip
        tenant = principal.tenant
        authorize(principal, "manage_schema", Resource(tenant, "schema"))
        relations = {**self.ports.shared_relations, **self.relations(tenant)}
        name, reads = self.ports.check_cube(tenant, text, relations)
        authorize(principal, "manage_schema", Resource(tenant, "schema", name))
        if name in self.ports.shared_cubes():
            raise SchemaObjectExists(
                f"cube {name!r} is a shared cube: a tenant's cube may not replace it",
                hint="Name your cube differently (e.g. my_" + name + ").",
                name=name,
            )
        self._free(tenant, "cube", name, None, replace=True)
        schema = self.schema(tenant)
        was = {n: c.text for n, c in schema.cubes.items()}
        tables = self.ports.plan_rollups(tenant, {**was, name: text}, schema.rollups)
        active = self._active_rollups(tenant, was, schema.rollups) if tables else {}
        spec = {"yaml": text, "reads": sorted(reads), "relation": None}
        previous = next((r for r in schema.records if (r["kind"], r["name"]) == ("cube", name)),
                        None)  # fmt: skip
        self.meta.schemas.put(tenant, "cube", name, spec, principal.user)
        try:
            self._create_rollups(tenant, f"schema:cube:{name}", tables, active.keys())
        except Exception:  # the cube as it was: nothing half-added
            if previous is None:
                self.meta.schemas.remove(tenant, "cube", name)
            else:
                self.meta.schemas.put(
                    tenant, "cube", name, previous["spec"], previous["created_by"]
                )
            raise
        self._audit(principal, "schema_add", "cube", name, None)
        return self._record(principal, "cube", name)

    def add_rollup(self, principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
        """A rollup of one of the tenant's cubes, for this tenant only: built from the stored
        facts in a commit of its own, then refreshed in the commit of every change."""
        rollup = parse_rollup(data)
        tenant = self._authorize(principal, rollup.name)
        self._free(tenant, "rollup", rollup.name, None)
        schema = self.schema(tenant)
        cubes = {n: c.text for n, c in schema.cubes.items()}
        before = self._active_rollups(tenant, cubes, schema.rollups)
        tables = self.ports.plan_rollups(tenant, cubes, {**schema.rollups, rollup.name: rollup})
        relation = next(iter(set(tables) - set(before)), None)
        if relation is None:
            raise SchemaObjectExists(
                f"rollup {rollup.name!r} stores what another rollup of cube {rollup.cube!r} "
                "already stores",
                hint="List the tenant's rollups with `ledgerhouse schema list`.",
                rollup=rollup.name,
            )
        spec = {**rollup.to_dict(), "relation": relation, "reads": sorted(tables[relation][1])}
        self.meta.schemas.put(tenant, "rollup", rollup.name, spec, principal.user)
        try:
            self._create_rollups(tenant, f"schema:{relation}", tables, before.keys())
        except Exception:
            self.meta.schemas.remove(tenant, "rollup", rollup.name)
            raise
        self._audit(principal, "schema_add", "rollup", rollup.name, relation)
        return self._record(principal, "rollup", rollup.name)

    def _active_rollups(
        self, tenant: str, cubes: Mapping[str, str], rollups: Mapping[str, TenantRollup]
    ) -> Mapping[str, Any]:
        """The rollup tables the tenant has now (none when what is stored no longer checks:
        then every table of the new declaration is rebuilt, which is only slower)."""
        try:
            return self.ports.plan_rollups(tenant, cubes, rollups)
        except InvalidSchemaObject:
            return {}

    def _create_rollups(
        self,
        tenant: str,
        operation: str,
        tables: Mapping[str, tuple[TableDef, frozenset[str]]],
        active: Collection[str],
    ) -> None:
        """Create the rollup tables no commit has yet, and empty those declared again that were
        not ``active`` (after a drop, their stored months are stale); the mart refresher
        builds each from the stored facts in the same commit. A build that fails is an
        invalid declaration: nothing is kept."""
        if not tables:
            return
        try:
            with self.writer.transaction(tenant, operation) as txn:
                for relation, (table, _reads) in sorted(tables.items()):
                    if relation not in txn.committed:
                        txn.create(table)
                    elif relation not in active:
                        txn.overwrite(table, table.schema.empty_table())
        except LedgerhouseError:
            raise
        except Exception as exc:  # the rollup's SQL failed to build: the declaration's fault
            raise InvalidSchemaObject(
                f"the rollup could not be built: {exc}", hint=DOC_HINT
            ) from None

    def add_mart(self, principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
        name, sql, description = parse_mart(data)
        tenant = self._authorize(principal, name)
        relation = f"{MART_PREFIX}{name}"
        self._free(tenant, "mart", name, relation)
        schema, reads = self.ports.probe_mart(principal, sql)
        bad = [f.name for f in schema if not COLUMN_NAME.fullmatch(f.name)]
        if bad or len(set(schema.names)) != len(schema.names):
            raise InvalidSchemaObject(
                f"mart {name!r}: its columns must have distinct lower-case names (letters, "
                f"digits, _), not {bad or sorted(schema.names)}",
                hint="Name every output column with AS, e.g. count(*) AS trades.",
                mart=name,
            )
        mart = TenantMart(name, sql, schema, tuple(sorted(reads)), description)
        self.meta.schemas.put(tenant, "mart", name, {**mart.to_dict(), "relation": relation},
                              principal.user)  # fmt: skip
        try:  # the commit creates the table; the mart refresher builds it in the same commit
            with self.writer.transaction(tenant, f"schema:{relation}") as txn:
                txn.create(mart.table)
        except Exception as exc:
            self.meta.schemas.remove(tenant, "mart", name)
            raise InvalidSchemaObject(
                f"mart {name!r} could not be built: {exc}", hint=DOC_HINT, mart=name
            ) from None
        self._audit(principal, "schema_add", "mart", name, relation)
        return self._record(principal, "mart", name)

    def drop(self, principal: Principal, kind: str, name: str) -> dict[str, Any]:
        """Drop one object. An extension or mart leaves the tenant's relations (its data is
        kept, its name stays taken); a cube is removed. Refused while a cube or mart of the
        tenant reads it."""
        if kind not in KINDS:
            raise InvalidSchemaObject(f"no kind {kind!r}", hint="Kinds: " + ", ".join(KINDS))
        tenant = self._authorize(principal, name)
        schema = self.schema(tenant)
        held: Any = schema.of_kind(kind).get(name)
        if held is None:
            raise UnknownSchemaObject(
                f"the tenant has no {kind} {name!r}",
                hint="List the tenant's schema with `ledgerhouse schema list`.",
                kind=kind,
                name=name,
            )
        if kind == "cube" and schema.rollups:
            users = [f"rollup {r.name!r}" for r in schema.rollups.values() if r.cube == name]
            if users:
                raise SchemaObjectInUse(
                    f"cube {name!r} is pre-aggregated by {', '.join(users)}",
                    hint="Drop those first.",
                    kind=kind,
                    name=name,
                )
        if kind not in ("cube", "rollup"):
            gone = {held.relation} | ({held.raw.relation} if kind == "extension" else set())
            users = [f"cube {c.name!r}" for c in schema.cubes.values() if gone & set(c.reads)]
            users += [f"mart {m.name!r}" for m in schema.marts.values() if gone & set(m.reads)]
            if users:
                raise SchemaObjectInUse(
                    f"{kind} {name!r} is read by {', '.join(users)}",
                    hint="Drop those first.",
                    kind=kind,
                    name=name,
                )
        record = self._record(principal, kind, name)
        if kind == "cube":  # a rollup keeps its name taken, like a mart (its data is kept)
            self.meta.schemas.remove(tenant, kind, name)
        else:
            spec = next(r["spec"] for r in schema.records if (r["kind"], r["name"]) == (kind, name))
            self.meta.schemas.put(tenant, kind, name, {**spec, "dropped": True}, principal.user)
        self._audit(principal, "schema_drop", kind, name, record.get("relation"))
        return {**record, "status": "dropped"}

    # -- helpers ------------------------------------------------------------------------------
    def _authorize(self, principal: Principal, name: str) -> str:
        authorize(principal, "manage_schema", Resource(principal.tenant, "schema", name))
        return principal.tenant

    def _free(
        self, tenant: str, kind: str, name: str, relation: str | None, *, replace: bool = False
    ) -> None:
        """Refuse a name the shared schema or the tenant's already holds (a cube may be
        replaced by a new version of itself)."""
        schema = self.schema(tenant)
        if len(schema.records) >= MAX_OBJECTS:
            raise InvalidSchemaObject(
                f"the tenant has {len(schema.records)} schema objects, the most it may hold",
                hint="Drop cubes it no longer uses.",
            )
        if relation is not None and relation in self.ports.shared_relations:
            raise SchemaObjectExists(
                f"{relation!r} is a shared relation", hint="Choose another name.", name=name
            )
        if (kind, name) in schema.dropped:
            raise SchemaObjectExists(
                f"{kind} {name!r} was dropped; its data is kept and its name stays taken",
                hint="Choose another name.",
                kind=kind,
                name=name,
            )
        if name in schema.of_kind(kind) and not replace:
            raise SchemaObjectExists(
                f"the tenant already has the {kind} {name!r}",
                hint=f"Drop it first (`ledgerhouse schema drop {kind} {name}`), or choose "
                "another name.",
                kind=kind,
                name=name,
            )

    def _record(self, principal: Principal, kind: str, name: str) -> dict[str, Any]:
        return next(o for o in self.objects(principal) if (o["kind"], o["name"]) == (kind, name))

    def _audit(
        self, principal: Principal, action: str, kind: str, name: str, relation: str | None
    ) -> None:
        self.meta.audit.append(
            principal.tenant, principal.user, principal.roles, action,
            relations=[relation] if relation else None,
            detail={"kind": kind, "name": name, "relation": relation},
        )  # fmt: skip
