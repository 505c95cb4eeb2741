"""Metadata management: owners, descriptions, tags, classifications and glossary terms of a
tenant's tables, columns, cubes, measures and dimensions, every change versioned
(docs/governance/metadata.md).

What an object says is its built-in metadata (the TableDefs, the cube YAML,
``metadata_builtins``) with the tenant's annotations laid over it, field by field: a field a
steward never set keeps the built-in value, and resetting it returns to that value. A
column's or a measure's owner is its table's or cube's unless set on it.

Stewards and admins edit (``edit_metadata``); every role reads (``read_governance``). Each
edit stores the fields it changed, before and after, with who, when and why, appends a
``metadata_change`` entry to the audit trail, and, for a table's or a column's description or
classifications, writes them into the Delta table's log as a metadata-only commit through the
commit writer (a warehouse commit like any other; no data file changes), so other engines
reading the table see them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledgerhouse.access import Principal, Resource, authorize
from ledgerhouse.errors import did_you_mean
from ledgerhouse.governance import metadata_builtins as builtins
from ledgerhouse.governance.errors import InvalidAnnotation, UnknownMetadataObject
from ledgerhouse.model.schema import TableDef
from ledgerhouse.storage.annotations import (
    CLASSIFICATION_KEY,
    COMMENT_KEY,
    Annotation,
    delta_descriptions,
    write_delta_descriptions,
)
from ledgerhouse.storage.commits import CommitWriter
from ledgerhouse.storage.metadata import MetadataStore

CLASSIFICATIONS = builtins.CLASSIFICATIONS
KINDS = ("table", "column", "cube", "measure", "dimension", "term")
#: The fields an annotation may set on an object (a term has definition and synonyms too).
FIELDS = ("owner", "description", "tags", "classifications", "terms")
TERM_FIELDS = ("owner", "definition", "synonyms")
_MAX_TEXT = 4000
_MAX_NAME = 128

#: ``cubes(tenant)``: the tenant's cubes as the semantic layer describes them (name, title,
#: description, fact, dimensions and measures with name/title/description, rollups).
CubeSource = Callable[[str], list[dict[str, Any]]]


@dataclass(frozen=True, order=True)
class ObjectRef:
    """A catalog object: ``kind`` and its name within the tenant (``fact_trade``,
    ``fact_trade.price``, ``trades``, ``trades.notional``, a term's name)."""

    kind: str
    name: str

    def __str__(self) -> str:
        if self.kind in ("table", "column"):
            return self.name
        if self.kind in ("cube", "measure"):
            return f"cube:{self.name}"
        return f"{self.kind}:{self.name}"  # dimension:trades.desk, term:Exposure

    @property
    def relation(self) -> str | None:
        return self.name.split(".", 1)[0] if self.kind in ("table", "column") else None

    @property
    def column(self) -> str | None:
        return self.name.split(".", 1)[1] if self.kind == "column" else None


@dataclass(frozen=True)
class Builtin:
    """What Ledgerhouse says of an object before any annotation."""

    ref: ObjectRef
    title: str
    layer: str
    description: str = ""
    tags: tuple[str, ...] = ()
    classifications: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()
    type: str = ""
    parent: ObjectRef | None = None
    #: the relation that holds its data: a table itself, a column's table, a cube's fact
    source: str | None = None
    definition: str = ""
    synonyms: tuple[str, ...] = ()
    children: tuple[ObjectRef, ...] = field(default=(), compare=False)


class MetadataService:
    def __init__(
        self,
        meta: MetadataStore,
        writer: CommitWriter,
        relations: Mapping[str, TableDef],
        cubes: CubeSource,
    ) -> None:
        self.meta = meta
        self.writer = writer
        self.relations = dict(relations)
        self.cubes = cubes
        self._tables = _table_objects(self.relations)
        #: a tenant's own tables (its schema: docs/tenancy/schemas.md)
        self.tenant_relations: Callable[[str], Mapping[str, TableDef]] = lambda _tenant: {}

    def relations_of(self, tenant: str) -> Mapping[str, TableDef]:
        """The shared tables and the tenant's own."""
        extra = self.tenant_relations(tenant)
        return {**self.relations, **extra} if extra else self.relations

    # -- the inventory ------------------------------------------------------------------------
    def builtins(self, tenant: str) -> dict[ObjectRef, Builtin]:
        """Every object of the tenant with its built-in metadata (its own terms included)."""
        objects = dict(self._tables)
        objects.update(_table_objects(self.tenant_relations(tenant)))
        objects.update(_cube_objects(self.cubes(tenant)))
        for name, (definition, synonyms, _) in builtins.TERMS.items():
            ref = ObjectRef("term", name)
            objects[ref] = Builtin(ref, name, "glossary", definition=definition, synonyms=synonyms)
        for kind, name in self.meta.annotations.annotations(tenant):
            if kind == "term" and ObjectRef("term", name) not in objects:
                objects[ObjectRef("term", name)] = Builtin(
                    ObjectRef("term", name), name, "glossary"
                )
        links: dict[ObjectRef, list[str]] = {}
        for term, (_, _, linked) in builtins.TERMS.items():
            for text in linked:
                found = _lookup(objects, text)
                if found is not None:
                    links.setdefault(found, []).append(term)
        for ref, terms in links.items():
            objects[ref] = _replace(objects[ref], terms=tuple(terms))
        return objects

    def resolve(
        self, tenant: str, text: str, objects: Mapping[ObjectRef, Builtin] | None = None
    ) -> ObjectRef:
        """The object ``text`` names: ``fact_trade``, ``fact_trade.price``, ``cube:trades``,
        ``cube:trades.notional`` (a measure, else a dimension), ``dimension:trades.desk``,
        ``term:Exposure`` (or a term's name alone, in any case)."""
        objects = objects if objects is not None else self.builtins(tenant)
        ref = _lookup(objects, text)
        if ref is None:
            names = [str(r) for r in objects]
            raise UnknownMetadataObject(
                f"no table, column, cube, measure, dimension or glossary term {text!r}."
                f"{did_you_mean(text, names)}",
                hint="Name a table (fact_trade), a column (fact_trade.price), a cube member "
                "(cube:trades.notional) or a term (term:Exposure); `ledgerhouse catalog search` "
                "finds them.",
                object=text,
            )
        return ref

    # -- reads --------------------------------------------------------------------------------
    def describe(self, principal: Principal, text: str) -> dict[str, Any]:
        """An object's metadata (built-in and annotated, field by field), with its version;
        a table lists its columns', a cube its members', a term the objects linked to it."""
        authorize(principal, "read_governance", Resource(principal.tenant, "metadata", text))
        tenant = principal.tenant
        objects = self.builtins(tenant)
        ref = self.resolve(tenant, text, objects)
        records = self.records(tenant, objects)
        out = dict(records[ref])
        if objects[ref].children:
            out["members"] = [_brief(records[c]) for c in objects[ref].children if c in records]
        if ref.kind == "term":
            out["links"] = sorted(str(r) for r, rec in records.items() if ref.name in rec["terms"])
        return out

    def records(
        self, tenant: str, objects: Mapping[ObjectRef, Builtin] | None = None
    ) -> dict[ObjectRef, dict[str, Any]]:
        """Every object's effective metadata (what the catalog indexes)."""
        objects = objects if objects is not None else self.builtins(tenant)
        notes = self.meta.annotations.annotations(tenant)
        empty = Annotation("", "", {}, 0, None, None)
        out: dict[ObjectRef, dict[str, Any]] = {}
        # parents first: a column's owner is its table's unless set on it
        for ref in sorted(objects, key=lambda r: objects[r].parent is not None):
            b = objects[ref]
            note = notes.get((ref.kind, ref.name), empty)
            parent_owner = out[b.parent]["owner"] if b.parent in out else None
            out[ref] = _record(b, note, parent_owner)
        return out

    def history(
        self, principal: Principal, text: str | None = None, *, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The changes of one object (or of every object), newest first: who, when, the
        fields' values before and after, the reason, the Delta commit it made if any."""
        authorize(principal, "read_governance", Resource(principal.tenant, "metadata", text))
        if text is None:
            changes = self.meta.annotations.changes(principal.tenant, limit=limit)
        else:
            ref = self.resolve(principal.tenant, text)
            changes = self.meta.annotations.changes(
                principal.tenant, kind=ref.kind, name=ref.name, limit=limit
            )
        return [{**c, "object": str(ObjectRef(c["kind"], c["name"]))} for c in changes]

    def glossary(self, principal: Principal) -> list[dict[str, Any]]:
        """The tenant's glossary: each term's definition, owner, synonyms and linked objects."""
        authorize(principal, "read_governance", Resource(principal.tenant, "metadata"))
        records = self.records(principal.tenant)
        out = []
        for ref, rec in sorted(records.items(), key=lambda kv: kv[0].name.lower()):
            if ref.kind == "term":
                linked = sorted(str(r) for r, o in records.items() if ref.name in o["terms"])
                out.append({**rec, "links": linked})
        return out

    def classifications(self, tenant: str) -> dict[tuple[str, str], list[str]]:
        """Every classified column of the tenant: {(relation, column): [labels]} (a column
        with no label is absent). Issue 15's column policies and the governance report key on
        it."""
        return {
            (ref.relation, ref.column): list(rec["classifications"])
            for ref, rec in self.records(tenant).items()
            if ref.kind == "column" and rec["classifications"] and ref.relation and ref.column
        }

    def metadata_changes(
        self, tenant: str, since: datetime, until: datetime
    ) -> list[dict[str, Any]]:
        """The changes in [since, until), one row per field: at, user, object, field, before,
        after, reason (the governance report's section)."""
        rows = []
        for c in self.meta.annotations.changes(tenant, since=since, until=until, limit=100_000):
            obj = str(ObjectRef(c["kind"], c["name"]))
            for name in sorted(set(c["before"]) | set(c["after"])):
                rows.append(
                    {"at": c["changed_at"], "user": c["user"], "object": obj, "field": name,
                     "before": c["before"].get(name), "after": c["after"].get(name),
                     "reason": c["reason"]}
                )  # fmt: skip
        return rows

    # -- edits --------------------------------------------------------------------------------
    def annotate(
        self,
        principal: Principal,
        text: str,
        *,
        owner: str | None = None,
        description: str | None = None,
        tags: Sequence[str] | None = None,
        classifications: Sequence[str] | None = None,
        terms: Sequence[str] | None = None,
        definition: str | None = None,
        synonyms: Sequence[str] | None = None,
        reset: Iterable[str] = (),
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Set fields of an object (None leaves a field as it is; ``reset`` names fields to
        return to their built-in value) and record the change. An edit that changes nothing
        records nothing. Returns the object's metadata and the change (``change``)."""
        tenant = principal.tenant
        authorize(principal, "edit_metadata", Resource(tenant, "metadata", text))
        objects = self.builtins(tenant)
        ref = self.resolve(tenant, text, objects)
        given = {
            "owner": owner, "description": description, "tags": tags,
            "classifications": classifications, "terms": terms, "definition": definition,
            "synonyms": synonyms,
        }  # fmt: skip
        allowed = TERM_FIELDS if ref.kind == "term" else FIELDS
        values = {k: v for k, v in given.items() if v is not None}
        bad = sorted((set(values) | set(reset)) - set(allowed))
        if bad:
            raise InvalidAnnotation(
                f"a {ref.kind} has no field {', '.join(bad)} to set",
                hint=f"A {ref.kind} has: {', '.join(allowed)}.",
                field=bad[0],
            )
        terms_known = {r.name.lower(): r.name for r in objects if r.kind == "term"}
        clean = {k: _validated(k, v, terms_known) for k, v in values.items()}
        return self._apply(principal, ref, objects, clean, tuple(reset), reason)

    def define_term(
        self,
        principal: Principal,
        name: str,
        *,
        definition: str | None = None,
        owner: str | None = None,
        synonyms: Sequence[str] | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Add a glossary term, or change one's definition, owner or synonyms."""
        tenant = principal.tenant
        authorize(principal, "edit_metadata", Resource(tenant, "metadata", name))
        objects = self.builtins(tenant)
        clean_name = _validated("term", name, {})
        ref = _lookup(objects, f"term:{clean_name}") or ObjectRef("term", clean_name)
        if ref not in objects:
            if not definition:
                raise InvalidAnnotation(
                    f"a new term needs a definition: {clean_name!r} is not in the glossary yet",
                    hint="Pass definition=... (`--definition` on the CLI).",
                    field="definition",
                )
            objects[ref] = Builtin(ref, clean_name, "glossary")
        values = {"definition": definition, "owner": owner, "synonyms": synonyms}
        clean = {k: _validated(k, v, {}) for k, v in values.items() if v is not None}
        return self._apply(principal, ref, objects, clean, (), reason)

    def link_term(
        self,
        principal: Principal,
        term: str,
        objects_named: Sequence[str],
        *,
        unlink: bool = False,
        reason: str | None = None,
    ) -> list[dict[str, Any]]:
        """Link a glossary term to columns, measures or any object (``unlink`` removes the
        links); one versioned change per object whose terms changed."""
        tenant = principal.tenant
        authorize(principal, "edit_metadata", Resource(tenant, "metadata", term))
        objects = self.builtins(tenant)
        term_ref = self.resolve(tenant, f"term:{term}", objects)
        targets = [self.resolve(tenant, t, objects) for t in objects_named]
        records = self.records(tenant, objects)
        out = []
        for ref in targets:
            if ref.kind == "term":
                raise InvalidAnnotation(
                    "a term links to tables, columns and cube members, not to another term",
                    hint="Put related words in the term's synonyms instead.",
                    field="objects",
                )
            now = list(records[ref]["terms"])
            if unlink:
                new = [t for t in now if t != term_ref.name]
            else:
                new = now if term_ref.name in now else [*now, term_ref.name]
            out.append(self._apply(principal, ref, objects, {"terms": new}, (), reason))
        return out

    def _apply(
        self,
        principal: Principal,
        ref: ObjectRef,
        objects: Mapping[ObjectRef, Builtin],
        values: dict[str, Any],
        reset: tuple[str, ...],
        reason: str | None,
    ) -> dict[str, Any]:
        tenant = principal.tenant
        note = self.meta.annotations.annotation(tenant, ref.kind, ref.name)
        b = objects[ref]
        records = self.records(tenant, objects)
        parent_owner = records[b.parent]["owner"] if b.parent in records else None
        fields = {k: v for k, v in note.fields.items() if k not in reset}
        fields.update(values)
        before = _record(b, note, parent_owner)
        after = _record(b, Annotation(ref.kind, ref.name, fields, note.version, None, None),
                        parent_owner)  # fmt: skip
        keys = TERM_FIELDS if ref.kind == "term" else FIELDS
        changed = [k for k in keys if before.get(k) != after.get(k)]
        if not changed:  # nothing to record (no new version)
            return {**before, "change": None}
        commit_id = None
        if ref.kind in ("table", "column") and {"description", "classifications"} & set(changed):
            commit_id = self._write_delta(principal, ref, after, reason)
        change = self.meta.annotations.apply(
            tenant, ref.kind, ref.name, fields,
            expected_version=note.version,
            before={k: before.get(k) for k in changed}, after={k: after.get(k) for k in changed},
            user=principal.user, roles=principal.roles, reason=reason, commit_id=commit_id,
        )  # fmt: skip
        change["object"] = str(ref)
        self.meta.audit.append(
            tenant, principal.user, principal.roles, "metadata_change",
            relations=[ref.relation] if ref.relation else None,
            columns={ref.relation: [ref.column]} if ref.relation and ref.column else None,
            detail={"object": str(ref), "fields": changed, "change_id": change["id"],
                    "version": change["version"], "reason": reason, "commit_id": commit_id},
        )  # fmt: skip
        current = self.records(tenant, objects)[ref]
        return {**current, "change": change}

    def _write_delta(
        self, principal: Principal, ref: ObjectRef, after: dict[str, Any], reason: str | None
    ) -> int | None:
        """Write a table's description, or a column's comment and classifications, into the
        Delta log in a warehouse commit of its own; None when the table is not on disk or
        already says so."""
        assert ref.relation is not None
        table = self.relations_of(principal.tenant)[ref.relation]
        store = self.writer.store
        tenant = principal.tenant
        if not store.exists(tenant, table):
            return None
        path = str(store.path(tenant, table))
        description: str | None = None
        columns: dict[str, dict[str, str]] = {}
        if ref.column is None:
            description = after["description"]
        else:
            columns[ref.column] = {
                COMMENT_KEY: after["description"],
                CLASSIFICATION_KEY: ",".join(after["classifications"]),
            }
        have_description, have_columns = delta_descriptions(path)
        if (description is None or description == have_description) and all(
            all(have_columns.get(c, {}).get(k) == v for k, v in want.items())
            for c, want in columns.items()
        ):
            return None
        info = {"ledgerhouse.operation": f"metadata:{ref}", "ledgerhouse.user": principal.user}
        if reason:
            info["ledgerhouse.reason"] = reason[:500]
        with self.writer.transaction(tenant, f"metadata:{ref.relation}") as txn:
            if ref.relation not in txn.committed:
                return None  # no commit knows the table yet: nothing to describe
            txn.stage(table, lambda: write_delta_descriptions(path, description, columns, info))
        return txn.commit.id if txn.commit is not None else None


# -- helpers ----------------------------------------------------------------------------------
def _record(b: Builtin, note: Annotation, parent_owner: str | None) -> dict[str, Any]:
    f = note.fields
    out: dict[str, Any] = {
        "object": str(b.ref),
        "kind": b.ref.kind,
        "name": b.ref.name,
        "title": b.title,
        "layer": b.layer,
        "type": b.type,
        "relation": b.ref.relation,
        "column": b.ref.column,
        "parent": str(b.parent) if b.parent else None,
        "source": b.source,
        "owner": f.get("owner", parent_owner),
        "tags": list(f.get("tags", b.tags)),
        "version": note.version,
        "updated_at": note.updated_at.isoformat() if note.updated_at else None,
        "updated_by": note.updated_by,
        "overridden": sorted(f),
    }
    if b.ref.kind == "term":
        out["definition"] = f.get("definition", b.definition)
        out["synonyms"] = list(f.get("synonyms", b.synonyms))
        out["description"] = out["definition"]
        out["classifications"] = []
        out["terms"] = []
    else:
        out["description"] = f.get("description", b.description)
        out["builtin_description"] = b.description
        out["classifications"] = list(f.get("classifications", b.classifications))
        out["terms"] = list(f.get("terms", b.terms))
    return out


def _brief(rec: dict[str, Any]) -> dict[str, Any]:
    keep = ("object", "kind", "name", "title", "type", "description", "owner", "tags",
            "classifications", "terms")  # fmt: skip
    return {k: rec[k] for k in keep}


def _replace(b: Builtin, **changes: Any) -> Builtin:
    from dataclasses import replace

    return replace(b, **changes)


def _lookup(objects: Mapping[ObjectRef, Builtin], text: str) -> ObjectRef | None:
    text = text.strip()
    prefix, _, rest = text.partition(":")
    if rest and prefix in KINDS:
        kinds = ("measure", "dimension") if prefix == "cube" and "." in rest else (prefix,)
        for kind in kinds:
            if kind == "term":
                for ref in objects:
                    if ref.kind == "term" and ref.name.lower() == rest.lower():
                        return ref
            elif ObjectRef(kind, rest) in objects:
                return ObjectRef(kind, rest)
        return None
    for kind in ("column", "table") if "." in text else ("table", "cube"):
        if ObjectRef(kind, text) in objects:
            return ObjectRef(kind, text)
    for ref in objects:  # a term by its name alone
        if ref.kind == "term" and ref.name.lower() == text.lower():
            return ref
    return None


def _validated(name: str, value: Any, terms: Mapping[str, str]) -> Any:
    def text(v: Any, limit: int) -> str:
        if not isinstance(v, str):
            raise InvalidAnnotation(f"{name} must be text, not {type(v).__name__}", field=name)
        v = v.strip()
        if len(v) > limit:
            raise InvalidAnnotation(
                f"{name} is {len(v)} characters long; at most {limit}",
                hint="Shorten it.",
                field=name,
            )
        return v

    def items(v: Any) -> list[str]:
        if isinstance(v, str) or not isinstance(v, Sequence):
            raise InvalidAnnotation(f"{name} must be a list of names", field=name)
        out: list[str] = []
        for item in v:
            clean = text(item, _MAX_NAME)
            if not clean:
                raise InvalidAnnotation(f"{name} holds an empty name", hint="Drop it.", field=name)
            if clean not in out:
                out.append(clean)
        return out

    if name in ("description", "definition"):
        return text(value, _MAX_TEXT)
    if name in ("owner", "term"):
        clean = text(value, _MAX_NAME)
        if name == "term" and not clean:
            raise InvalidAnnotation("a term needs a name", field="name")
        return clean or None
    if name == "tags":
        return [t.lower() for t in items(value)]
    if name == "synonyms":
        return items(value)
    if name == "classifications":
        labels = [c.lower() for c in items(value)]
        for label in labels:
            if label not in CLASSIFICATIONS:
                raise InvalidAnnotation(
                    f"unknown classification {label!r}.{did_you_mean(label, CLASSIFICATIONS)}",
                    hint=f"Classifications: {', '.join(CLASSIFICATIONS)}.",
                    field="classifications",
                )
        return sorted(labels, key=CLASSIFICATIONS.index)
    if name == "terms":
        out = []
        for term in items(value):
            if term.lower() not in terms:
                raise InvalidAnnotation(
                    f"no glossary term {term!r}.{did_you_mean(term, terms.values())}",
                    hint="Define it first (`ledgerhouse glossary define`), or pick one from "
                    "`ledgerhouse glossary list`.",
                    field="terms",
                )
            out.append(terms[term.lower()])
        return out
    raise AssertionError(name)


def _table_objects(relations: Mapping[str, TableDef]) -> dict[ObjectRef, Builtin]:
    out: dict[ObjectRef, Builtin] = {}
    for relation, table in relations.items():
        ref = ObjectRef("table", relation)
        children = tuple(ObjectRef("column", f"{relation}.{c}") for c in table.column_names)
        out[ref] = Builtin(
            ref, relation, table.layer, table.description,
            tags=builtins.TABLE_TAGS.get(relation, ()), source=relation, children=children,
        )  # fmt: skip
        for col, typ in table.columns:
            cref = ObjectRef("column", f"{relation}.{col}")
            out[cref] = Builtin(
                cref, col, table.layer, builtins.column_text(relation, col),
                classifications=builtins.CLASSIFIED.get((relation, col), ()),
                type=str(typ), parent=ref, source=relation,
            )  # fmt: skip
    return out


def _cube_objects(cubes: list[dict[str, Any]]) -> dict[ObjectRef, Builtin]:
    out: dict[ObjectRef, Builtin] = {}
    for cube in cubes:
        name = cube["name"]
        ref = ObjectRef("cube", name)
        children = []
        for kind, key in (("measure", "measures"), ("dimension", "dimensions")):
            for m in cube.get(key, []):
                mref = ObjectRef(kind, f"{name}.{m['name']}")
                children.append(mref)
                out[mref] = Builtin(
                    mref, m.get("title") or m["name"], "semantic",
                    m.get("description") or m.get("title") or "", type=m.get("type", ""),
                    parent=ref, source=cube.get("fact"),
                )  # fmt: skip
        out[ref] = Builtin(
            ref, cube.get("title") or name, "semantic",
            cube.get("description") or cube.get("title") or "",
            source=cube.get("fact"), children=tuple(children),
        )  # fmt: skip
    return out
