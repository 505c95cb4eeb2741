"""Catalog search: ranked text search across a tenant's tables, columns, cubes, measures,
dimensions and glossary terms, with facets (docs/governance/catalog.md).

Ranking is BM25 (Robertson and Sparck Jones; k1 = 1.2, b = 0.75) over one document per object:
its name (weight 3), title, tags and linked glossary terms with their synonyms (2 each), its
description and classifications (1), and for a table its column names, for a cube its members'
names (1). Words are lower-cased, split on anything not a letter or a digit (``fact_trade`` is
``fact`` and ``trade``) and reduced to their singular, so "exposures" finds "exposure". A
tenant has a few hundred objects: the index is rebuilt when the tenant's metadata changes
(keyed on its newest change) and is kept per tenant.

Each hit comes with its lineage (direct upstream and downstream relations, from the lineage
graph), freshness (the last data commit that changed its table, and when), quality score, row
count at the latest commit and, only for a caller allowed to read the table, sample values
(a few distinct values of a column, a few rows of a table) read through the query service as
that caller, so grants and column policies apply to them as to any query. Columns classified
``pii`` or ``restricted`` are never sampled.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ledgerhouse.access import Principal, Resource, authorize, may
from ledgerhouse.errors import LedgerhouseError, did_you_mean
from ledgerhouse.governance.errors import InvalidAnnotation
from ledgerhouse.governance.metadata import KINDS, MetadataService, ObjectRef
from ledgerhouse.storage.metadata import MetadataStore, WarehouseCommit

#: Facets a search returns counts of, and filters on.
FACETS = ("kind", "layer", "tag", "owner", "classification")
#: Classifications whose values a search never shows.
UNSAMPLED = frozenset({"pii", "restricted"})
_K1, _B = 1.2, 0.75
#: A kind's weight on its score: a table or a cube answers a search more often than one of
#: its columns or members does.
_PRIOR = {"table": 1.3, "cube": 1.2, "term": 1.1, "measure": 1.0, "dimension": 1.0, "column": 0.8}
#: Below the conformed tables and marts: the raw layer (batches as received, for replay and
#: audit) and the rollups (accelerators behind a cube; the cube is what to ask).
_RAW_PRIOR, _ROLLUP_PRIOR = 0.85, 0.8


def _prior(rec: dict[str, Any]) -> float:
    weight = _PRIOR.get(rec["kind"], 1.0)
    if rec["layer"] == "raw":
        weight *= _RAW_PRIOR
    if (rec.get("relation") or "").startswith("rollup_"):
        weight *= _ROLLUP_PRIOR
    return weight


_KINDS_FIRST = ("table", "cube", "measure", "dimension", "term", "column")
_KIND_ORDER = {k: i for i, k in enumerate(_KINDS_FIRST)}
_STOP = frozenset(("a", "an", "and", "as", "at", "by", "each", "for", "from", "in", "is", "it",
                   "its", "of", "on", "one", "or", "per", "the", "to", "with"))  # fmt: skip
#: How many commits back freshness looks for a table's last change.
FRESHNESS_COMMITS = 1000


class Lineage(Protocol):
    """What the catalog asks of the lineage graph (``governance.lineage.LineageGraph``)."""

    def tables(self) -> dict[str, set[str]]: ...

    def upstream(
        self, relation: str, column: str | None = None, depth: int | None = None
    ) -> list[dict[str, Any]]: ...

    def downstream(
        self, relation: str, column: str | None = None, depth: int | None = None
    ) -> list[dict[str, Any]]: ...


#: ``lineage(tenant)``: the tenant's lineage graph at its latest commit (None: none yet)
LineageSource = Callable[[str], Lineage | None]
#: ``quality(tenant)``: each checked table's quality score (0-100; None before any run)
QualitySource = Callable[[str], Mapping[str, float | None]]
#: ``rows(principal, commit, relation)``: rows at a commit as the caller may know them (None
#: when a row policy hides some of them from it)
RowSource = Callable[[Principal, WarehouseCommit, str], int | None]
#: ``sample(principal, sql, limit)``: run a query as the caller; (column names, JSON rows)
Sampler = Callable[[Principal, str, int], tuple[list[str], list[list[Any]]]]


class StaticLineage:
    """Table lineage from what each derived table is built from (marts and rollups), for a
    warehouse without the lineage graph: no column edges."""

    def __init__(self, derived: Mapping[str, Iterable[str]]) -> None:
        self._up = {rel: set(src) for rel, src in derived.items()}

    def tables(self) -> dict[str, set[str]]:
        out = {rel: set(src) for rel, src in self._up.items()}
        for src in list(out.values()):
            for rel in src:
                out.setdefault(rel, set())
        return out

    def upstream(
        self, relation: str, column: str | None = None, depth: int | None = None
    ) -> list[dict[str, Any]]:
        if column is not None:
            return []
        return [{"from": s, "to": relation, "depth": 1} for s in sorted(self._up.get(relation, ()))]

    def downstream(
        self, relation: str, column: str | None = None, depth: int | None = None
    ) -> list[dict[str, Any]]:
        if column is not None:
            return []
        down = sorted(r for r, src in self._up.items() if relation in src)
        return [{"from": relation, "to": d, "depth": 1} for d in down]


# -- text ----------------------------------------------------------------------------------------
def tokens(text: str) -> list[str]:
    """Lower-cased words, split at anything not a letter or digit, each in its singular."""
    text = text.lower().replace("p&l", "pnl")
    return [_singular(w) for w in re.findall(r"[a-z0-9]+", text) if w not in _STOP]


def _singular(word: str) -> str:
    if len(word) <= 3 or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


@dataclass(frozen=True)
class _Doc:
    ref: ObjectRef
    terms: Counter[str]
    length: int


class Bm25:
    """Okapi BM25 over a fixed set of documents."""

    def __init__(self, docs: Sequence[tuple[ObjectRef, list[str]]]) -> None:
        self.docs = [_Doc(ref, Counter(words), len(words)) for ref, words in docs]
        self.avg = sum(d.length for d in self.docs) / len(self.docs) if self.docs else 0.0
        df: Counter[str] = Counter()
        for d in self.docs:
            df.update(d.terms.keys())
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def scores(self, query: Sequence[str]) -> dict[ObjectRef, float]:
        out: dict[ObjectRef, float] = {}
        for d in self.docs:
            score = 0.0
            for q in set(query):
                tf = d.terms.get(q, 0)
                if tf:
                    norm = _K1 * (1 - _B + _B * d.length / self.avg)
                    score += self.idf[q] * tf * (_K1 + 1) / (tf + norm)
            if score > 0:
                out[d.ref] = score
        return out


def _document(
    rec: dict[str, Any], members: Sequence[str], synonyms: Mapping[str, list[str]]
) -> list[str]:
    parent, _, own = rec["name"].rpartition(".")  # a column's table, a member's cube: 1
    words = tokens(own) * 3 + tokens(parent) + tokens(rec["title"]) * 2
    for tag in rec["tags"]:
        words += tokens(tag) * 2
    for term in rec["terms"]:
        words += tokens(term) * 2
        for syn in synonyms.get(term, ()):
            words += tokens(syn) * 2
    if rec["kind"] == "term":
        for syn in rec.get("synonyms", ()):
            words += tokens(syn) * 3
    words += tokens(rec["description"] or "")
    for label in rec["classifications"]:
        words += tokens(label)
    for member in members:
        words += tokens(member)
    return words


class CatalogSearch:
    def __init__(
        self,
        metadata: MetadataService,
        meta: MetadataStore,
        *,
        rows: RowSource | None = None,
        lineage: LineageSource | None = None,
        quality: QualitySource | None = None,
        sample: Sampler | None = None,
    ) -> None:
        self.metadata = metadata
        self.meta = meta
        self.rows = rows
        self.lineage = lineage
        self.quality = quality
        self.sample = sample
        self._lock = threading.Lock()
        self._indexes: dict[str, tuple[tuple[int, int], Bm25, dict[ObjectRef, dict[str, Any]]]] = {}
        self._fresh: dict[str, tuple[int, dict[str, tuple[int, str]]]] = {}

    # -- the index -------------------------------------------------------------------------------
    def index(self, tenant: str) -> tuple[Bm25, dict[ObjectRef, dict[str, Any]]]:
        """The tenant's index and records, rebuilt when its metadata changed."""
        objects = self.metadata.builtins(tenant)
        key = (self.meta.annotations.last_change_id(tenant), len(objects))
        with self._lock:
            hit = self._indexes.get(tenant)
        if hit is not None and hit[0] == key:
            return hit[1], hit[2]
        records = self.metadata.records(tenant, objects)
        synonyms = {r.name: rec["synonyms"] for r, rec in records.items() if r.kind == "term"}
        docs = []
        for ref, rec in records.items():
            members = [c.name.rsplit(".", 1)[-1] for c in objects[ref].children]
            docs.append((ref, _document(rec, members, synonyms)))
        index = Bm25(docs)
        with self._lock:
            self._indexes[tenant] = (key, index, records)
        return index, records

    # -- search ----------------------------------------------------------------------------------
    def search(
        self,
        principal: Principal,
        text: str,
        *,
        kind: str | Sequence[str] | None = None,
        layer: str | Sequence[str] | None = None,
        tag: str | Sequence[str] | None = None,
        owner: str | Sequence[str] | None = None,
        classification: str | Sequence[str] | None = None,
        limit: int = 10,
        samples: bool = True,
    ) -> dict[str, Any]:
        """The objects that match ``text`` best (every object, by kind and name, for an empty
        text), filtered by the facets given (several values of one facet: any of them), with
        the counts of each facet's values among the matches."""
        tenant = principal.tenant
        authorize(principal, "read_governance", Resource(tenant, "catalog"))
        if not 1 <= limit <= 200:
            raise InvalidAnnotation(f"limit {limit} is out of range", hint="Use 1 to 200.")
        filters = {
            "kind": _values(kind), "layer": _values(layer), "tag": _values(tag),
            "owner": _values(owner), "classification": _values(classification),
        }  # fmt: skip
        for k in filters["kind"]:
            if k not in KINDS:
                raise InvalidAnnotation(
                    f"unknown kind {k!r}.{did_you_mean(k, KINDS)}",
                    hint=f"Kinds: {', '.join(KINDS)}.",
                    field="kind",
                )
        index, records = self.index(tenant)
        words = tokens(text)
        if words:
            scored = {r: s * _prior(records[r]) for r, s in index.scores(words).items()}
        else:
            scored = dict.fromkeys(records, 0.0)
        matched = [
            (ref, score)
            for ref, score in scored.items()
            if all(_facet_ok(records[ref], f, vals) for f, vals in filters.items())
        ]
        matched.sort(key=lambda p: (-p[1], _KIND_ORDER.get(p[0].kind, 9), p[0].name))
        facets: dict[str, Counter[str]] = {f: Counter() for f in FACETS}
        for ref, _ in matched:
            for f in FACETS:
                facets[f].update(_facet_values(records[ref], f))
        commit = self.meta.commit_log.latest_commit(tenant)
        scores = self._quality(tenant)
        hits = [
            self._hit(principal, records[ref], score, commit, scores, records if samples else None)
            for ref, score in matched[:limit]
        ]
        return {
            "query": text,
            "total": len(matched),
            "hits": hits,
            "facets": {f: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))
                       for f, c in facets.items()},
            "filters": {f: sorted(v) for f, v in filters.items() if v},
        }  # fmt: skip

    # -- one hit ---------------------------------------------------------------------------------
    def _hit(
        self,
        principal: Principal,
        rec: dict[str, Any],
        score: float,
        commit: WarehouseCommit | None,
        quality: Mapping[str, float | None],
        records: Mapping[ObjectRef, dict[str, Any]] | None,
    ) -> dict[str, Any]:
        tenant = principal.tenant
        source = rec.get("source")
        keep = ("object", "kind", "name", "title", "description", "layer", "owner", "tags",
                "classifications", "terms", "relation", "column", "type")  # fmt: skip
        hit: dict[str, Any] = {k: rec.get(k) for k in keep}
        hit["score"] = round(score, 4)
        hit["lineage"] = self._lineage(tenant, rec)
        fresh = self._freshness(tenant).get(source) if source else None
        hit["freshness"] = {"commit_id": fresh[0], "at": fresh[1]} if fresh else None
        hit["quality_score"] = quality.get(source) if source else None
        hit["rows"] = (
            self.rows(principal, commit, source)
            if self.rows is not None and commit is not None and source
            and source in commit.table_versions
            else None
        )  # fmt: skip
        hit["samples"] = self._samples(principal, rec, records) if records is not None else None
        return hit

    def _lineage(self, tenant: str, rec: dict[str, Any]) -> dict[str, list[str]]:
        graph = self.lineage(tenant) if self.lineage is not None else None
        if graph is None:
            return {"upstream": [], "downstream": []}
        if rec["kind"] in ("table", "column"):
            relation, column = rec["relation"], rec["column"]
        elif rec["kind"] == "cube":
            relation, column = f"cube:{rec['name']}", None
        elif rec["kind"] in ("measure", "dimension"):
            cube, _, member = rec["name"].partition(".")
            relation, column = f"cube:{cube}", member
        else:
            return {"upstream": [], "downstream": []}
        try:
            up = graph.upstream(relation, column, 1)
            down = graph.downstream(relation, column, 1)
        except (KeyError, ValueError, LedgerhouseError):
            return {"upstream": [], "downstream": []}
        return {
            "upstream": sorted({str(e["from"]) for e in up}),
            "downstream": sorted({str(e["to"]) for e in down}),
        }

    def _quality(self, tenant: str) -> Mapping[str, float | None]:
        if self.quality is None:
            return {}
        try:
            return self.quality(tenant)
        except LedgerhouseError:
            return {}

    def _freshness(self, tenant: str) -> dict[str, tuple[int, str]]:
        """Each table's last data commit (id, ISO time): metadata-only commits do not count."""
        latest = self.meta.commit_log.latest_commit(tenant)
        key = latest.id if latest else 0
        with self._lock:
            hit = self._fresh.get(tenant)
        if hit is not None and hit[0] == key:
            return hit[1]
        out: dict[str, tuple[int, str]] = {}
        for c in self.meta.commit_log.commits(tenant, FRESHNESS_COMMITS):  # newest first
            if c.operation.startswith("metadata:"):
                continue
            for rel in c.changed_tables:
                out.setdefault(rel, (c.id, c.created_at.isoformat()))
        with self._lock:
            self._fresh[tenant] = (key, out)
        return out

    def _samples(
        self,
        principal: Principal,
        rec: dict[str, Any],
        records: Mapping[ObjectRef, dict[str, Any]],
    ) -> dict[str, Any] | None:
        """A few values, read as the caller; None when it may not read the table."""
        relation = rec.get("relation")
        if self.sample is None or rec["kind"] not in ("table", "column") or not relation:
            return None
        if not may(principal, "read", Resource(principal.tenant, "table", relation)):
            return None
        if rec["kind"] == "column":
            if UNSAMPLED & set(rec["classifications"]):
                return None
            col = _quoted(rec["column"])
            sql = (f'SELECT DISTINCT {col} FROM "{relation}" WHERE {col} IS NOT NULL '
                   f"ORDER BY 1 LIMIT 5")  # fmt: skip
            n = 5
        else:
            table = self.metadata.relations_of(principal.tenant)[relation]
            labels = {
                c: set(records[ObjectRef("column", f"{relation}.{c}")]["classifications"])
                for c in table.column_names
            }
            cols = [_quoted(c) for c in table.column_names if not UNSAMPLED & labels[c]]
            if not cols:
                return None
            sql = f'SELECT {", ".join(cols)} FROM "{relation}" LIMIT 3'
            n = 3
        try:
            columns, rows = self.sample(principal, sql, n)
        except LedgerhouseError:
            return None
        return {"columns": columns, "rows": rows}


def _quoted(name: str | None) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _values(v: str | Sequence[str] | None) -> set[str]:
    if v is None:
        return set()
    return {v} if isinstance(v, str) else {x for x in v if x}


def _facet_values(rec: dict[str, Any], facet: str) -> list[str]:
    if facet == "kind":
        return [rec["kind"]]
    if facet == "layer":
        return [rec["layer"]] if rec["layer"] else []
    if facet == "tag":
        return list(rec["tags"])
    if facet == "owner":
        return [rec["owner"]] if rec["owner"] else []
    return list(rec["classifications"])


def _facet_ok(rec: dict[str, Any], facet: str, wanted: set[str]) -> bool:
    if not wanted:
        return True
    have = _facet_values(rec, facet)
    if facet in ("tag", "classification"):
        return bool({w.lower() for w in wanted} & set(have))
    return bool(wanted & set(have))
