"""The lineage graph: which relation and column each column comes from, and through which job.

A graph is a set of transforms. Each transform is one job that writes one relation (an
ingestion step, a mart or rollup refresh) or defines one (a cube's members), with the direct
sources of each of its output columns. The graph is static: it says what a transform reads,
not which rows; cell lineage (``cells.py``) follows the rows.

An output column with no source (``[]``) is *generated*: a surrogate key, a load time, a count of
rows. It still has lineage (the transform that makes it); a column no transform outputs has
none, unless its relation is an origin (a raw table: the batch as received).
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

TransformKind = Literal["sql", "declared", "cube"]
Direction = Literal["upstream", "downstream"]
#: How many paths ``path`` returns at most (two relations can be joined by many).
MAX_PATHS = 50


@dataclass(frozen=True, order=True)
class ColumnRef:
    """One column of one relation (a table, or ``cube:<name>`` for a cube's members)."""

    relation: str
    column: str

    def __str__(self) -> str:
        return f"{self.relation}.{self.column}"

    @classmethod
    def parse(cls, text: str) -> ColumnRef:
        """``relation.column`` (relations have no dots; a cube is ``cube:<name>``)."""
        relation, _, column = text.partition(".")
        return cls(relation, column)


@dataclass(frozen=True)
class Transform:
    """One job's output relation, its input relations and each output column's direct sources.

    ``kind``: ``sql`` (derived with SQLGlot from the job's SQL), ``declared`` (a Polars transform
    of ingestion, declared beside its code), ``cube`` (a cube's measures and dimensions from
    their SQL expressions). ``notes`` says, per column, how it is made when that is not a plain
    copy (``"generated: surrogate key"``, ``"computed: quantity * price"``); ``sql`` is the
    job's SQL when it has one.
    """

    job: str
    kind: TransformKind
    output: str
    inputs: tuple[str, ...]
    columns: dict[str, list[ColumnRef]]
    notes: dict[str, str] = field(default_factory=dict)
    sql: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(dict.fromkeys(self.inputs)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "kind": self.kind,
            "output": self.output,
            "inputs": list(self.inputs),
            "columns": {c: [str(r) for r in refs] for c, refs in sorted(self.columns.items())},
            "notes": dict(sorted(self.notes.items())),
            "sql": self.sql,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transform:
        return cls(
            job=data["job"],
            kind=data["kind"],
            output=data["output"],
            inputs=tuple(data["inputs"]),
            columns={c: [ColumnRef.parse(r) for r in refs] for c, refs in data["columns"].items()},
            notes=dict(data.get("notes") or {}),
            sql=data.get("sql"),
        )


@dataclass(frozen=True)
class RelationInfo:
    """What the graph knows of a relation besides its transforms: its layer (raw, core, mart,
    ml, cube) and every column it has (for coverage)."""

    layer: str
    columns: tuple[str, ...]


class LineageGraph:
    """Transforms indexed both ways. ``relations`` (optional) gives each relation's layer and
    full column list; without it, layers are guessed from names and only columns that appear
    in a transform are known."""

    def __init__(
        self,
        transforms: Iterable[Transform],
        relations: Mapping[str, RelationInfo] | None = None,
    ) -> None:
        self.transforms: tuple[Transform, ...] = tuple(
            sorted(transforms, key=lambda t: (t.output, t.job))
        )
        self.relations: dict[str, RelationInfo] = dict(relations or {})
        self._up: dict[ColumnRef, list[tuple[ColumnRef, Transform]]] = {}
        self._down: dict[ColumnRef, list[tuple[ColumnRef, Transform]]] = {}
        self._produced: dict[str, dict[str, list[ColumnRef]]] = {}
        self._by_output: dict[str, list[Transform]] = {}
        self._by_input: dict[str, list[Transform]] = {}
        for t in self.transforms:
            self._by_output.setdefault(t.output, []).append(t)
            for rel in t.inputs:
                self._by_input.setdefault(rel, []).append(t)
            out = self._produced.setdefault(t.output, {})
            for col, refs in t.columns.items():
                merged = out.setdefault(col, [])
                for ref in refs:
                    if ref not in merged:
                        merged.append(ref)
                    target = ColumnRef(t.output, col)
                    self._up.setdefault(target, []).append((ref, t))
                    self._down.setdefault(ref, []).append((target, t))
        self.digest = hashlib.sha256(
            json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()

    # -- lookups ------------------------------------------------------------------------------
    def layer(self, relation: str) -> str:
        if relation in self.relations:
            return self.relations[relation].layer
        if relation.startswith("cube:"):
            return "cube"
        if relation.startswith("raw_"):
            return "raw"
        if relation.startswith(("mart_", "rollup_")):
            return "mart"
        return "core"

    def known(self, relation: str) -> bool:
        return (
            relation in self.relations or relation in self._by_output or relation in self._by_input
        )

    def tables(self) -> dict[str, set[str]]:
        """Every relation -> the relations it is made from directly (empty for an origin)."""
        out: dict[str, set[str]] = {r: set() for r in self.relations}
        for t in self.transforms:
            out.setdefault(t.output, set()).update(t.inputs)
            for rel in t.inputs:
                out.setdefault(rel, set())
        return out

    def columns(self, relation: str) -> dict[str, list[ColumnRef]]:
        """Each column of ``relation`` that a transform outputs -> its direct sources."""
        return {c: list(refs) for c, refs in self._produced.get(relation, {}).items()}

    def notes(self, relation: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for t in self._by_output.get(relation, []):
            out.update(t.notes)
        return out

    def jobs(self, relation: str) -> list[Transform]:
        """The transforms that write (or define) ``relation``."""
        return list(self._by_output.get(relation, []))

    # -- traversal ----------------------------------------------------------------------------
    def upstream(
        self, relation: str, column: str | None = None, depth: int | None = None
    ) -> list[dict[str, Any]]:
        """Edges towards the sources, breadth first: ``{from, to, job, kind, depth}`` with
        ``from`` the source (``relation`` or ``relation.column``) and ``depth`` 1 for direct."""
        return self._walk(relation, column, depth, "upstream")

    def downstream(
        self, relation: str, column: str | None = None, depth: int | None = None
    ) -> list[dict[str, Any]]:
        """Edges towards what is made from it: ``from`` is the nearer end, ``to`` the derived."""
        return self._walk(relation, column, depth, "downstream")

    def _walk(
        self, relation: str, column: str | None, depth: int | None, direction: Direction
    ) -> list[dict[str, Any]]:
        edges: list[dict[str, Any]] = []
        seen_edges: set[tuple[str, str, str]] = set()
        if column is None:
            start: Any = relation
        else:
            start = ColumnRef(relation, column)
        visited = {start}
        frontier: deque[tuple[Any, int]] = deque([(start, 0)])
        while frontier:
            node, d = frontier.popleft()
            if depth is not None and d >= depth:
                continue
            for other, t in self._neighbours(node, direction):
                src, dst = (other, node) if direction == "upstream" else (node, other)
                key = (str(src), str(dst), t.job)
                if key not in seen_edges:
                    seen_edges.add(key)
                    edges.append(
                        {"from": str(src), "to": str(dst), "job": t.job, "kind": t.kind,
                         "depth": d + 1}
                    )  # fmt: skip
                if other not in visited:
                    visited.add(other)
                    frontier.append((other, d + 1))
        return edges

    def _neighbours(self, node: Any, direction: Direction) -> list[tuple[Any, Transform]]:
        if isinstance(node, ColumnRef):
            index = self._up if direction == "upstream" else self._down
            return sorted(index.get(node, []), key=lambda p: (str(p[0]), p[1].job))
        out: list[tuple[Any, Transform]] = []
        if direction == "upstream":
            for t in self._by_output.get(node, []):
                out += [(rel, t) for rel in t.inputs]
        else:
            for t in self._by_input.get(node, []):
                out.append((t.output, t))
        return sorted(out, key=lambda p: (str(p[0]), p[1].job))

    def path(self, from_ref: ColumnRef, to_ref: ColumnRef) -> list[list[ColumnRef]]:
        """Every column path (at most ``MAX_PATHS``) from ``from_ref`` down to ``to_ref``: each
        a list of columns, ``from_ref`` first, ``to_ref`` last. Empty when none."""
        paths: list[list[ColumnRef]] = []

        def visit(node: ColumnRef, trail: list[ColumnRef]) -> None:
            if len(paths) >= MAX_PATHS:
                return
            if node == to_ref:
                paths.append(trail)
                return
            for nxt, _ in self._neighbours(node, "downstream"):
                if nxt not in trail:
                    visit(nxt, [*trail, nxt])

        visit(from_ref, [from_ref])
        return paths

    def sources(self, ref: ColumnRef) -> list[ColumnRef]:
        """The origin columns (in raw tables, or with no further source) ``ref`` comes from."""
        out: list[ColumnRef] = []
        seen = {ref}
        stack = [ref]
        while stack:
            node = stack.pop()
            ups = self._up.get(node, [])
            if not ups and node != ref and node not in out:
                out.append(node)
            for src, _ in ups:
                if src not in seen:
                    seen.add(src)
                    stack.append(src)
        return sorted(out)

    # -- coverage -----------------------------------------------------------------------------
    def coverage(self) -> dict[str, Any]:
        """Share of columns with lineage, per layer. A column has lineage when a transform
        outputs it (generated columns included). Origins (raw tables no transform writes: the
        batches as received) are counted apart, under ``origins``."""
        layers: dict[str, dict[str, Any]] = {}
        origins: list[str] = []
        total = covered = 0
        for relation in sorted(set(self.relations) | set(self._produced)):
            produced = self._produced.get(relation, {})
            info = self.relations.get(relation)
            cols = list(info.columns) if info else list(produced)
            layer = self.layer(relation)
            if not produced and layer == "raw":
                origins.append(relation)
                continue
            entry = layers.setdefault(
                layer, {"columns": 0, "with_lineage": 0, "share": 0.0, "without": []}
            )
            for col in cols:
                entry["columns"] += 1
                if col in produced:
                    entry["with_lineage"] += 1
                else:
                    entry["without"].append(f"{relation}.{col}")
        for entry in layers.values():
            total += entry["columns"]
            covered += entry["with_lineage"]
            entry["share"] = (
                round(entry["with_lineage"] / entry["columns"], 4) if entry["columns"] else 1.0
            )
        return {
            "columns": total,
            "with_lineage": covered,
            "share": round(covered / total, 4) if total else 1.0,
            "layers": dict(sorted(layers.items())),
            "origins": origins,
        }

    # -- serialization ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "transforms": [t.to_dict() for t in self.transforms],
            "relations": {
                r: {"layer": info.layer, "columns": list(info.columns)}
                for r, info in sorted(self.relations.items())
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LineageGraph:
        return cls(
            [Transform.from_dict(t) for t in data["transforms"]],
            {
                r: RelationInfo(info["layer"], tuple(info["columns"]))
                for r, info in (data.get("relations") or {}).items()
            },
        )

    def restricted(self, visible: Sequence[str] | set[str]) -> LineageGraph:
        """The graph without the transforms whose output is not in ``visible`` (what a caller
        may read), and without relations outside it."""
        keep = set(visible)
        return LineageGraph(
            [t for t in self.transforms if t.output in keep],
            {r: info for r, info in self.relations.items() if r in keep},
        )
