"""Row and column policies applied inside every relation a query reads (docs/tenancy/policies.md).

The guard's template names each warehouse relation by a placeholder; the query service binds
each to its pinned version. For a principal under a policy, the placeholder is instead bound to
a subquery over that version which keeps only the allowed rows and masks or leaves out the
classified columns: ``(SELECT <columns> FROM <pinned> WHERE portfolio_code IN (...)) AS t``.
Because the rewrite is per reference, it holds wherever the relation is named — CTEs,
subqueries, set operations, self-joins, window functions over the whole table — and no
predicate, join or aggregate of the caller can see a row or a value outside it.

The allowed members of a row policy are computed once per principal, tenant, policy version
and dimension version (the latest commit: entitlements are today's, also for ``as_of`` reads),
from the current versions of the dimension.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp

from ledgerhouse.access import Principal
from ledgerhouse.access.grants import TenantRules
from ledgerhouse.access.policies import POLICY_DIMENSIONS, ColumnPolicy, RowPolicy
from ledgerhouse.errors import Forbidden, InvalidRequest
from ledgerhouse.model.schema import TableDef

#: What a redacted text column shows.
REDACTED = "****"


#: Marks a denied member in a filter (``code NOT IN (...)``); no member's code starts with it.
_NOT = "\x00not:"


@dataclass(frozen=True)
class RelationPolicy:
    """What a principal's reads of one relation return."""

    #: (column, allowed members), all hold; None: every member is allowed and every row of
    #: the relation holds one (no condition); members marked ``_NOT``: the denied ones
    filters: tuple[tuple[str, frozenset[str] | None], ...] = ()
    masked: tuple[tuple[str, str], ...] = ()  # (column, mask)
    hidden: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.filters or self.masked or self.hidden)

    def summary(self) -> dict[str, Any]:
        """What the policy does to the relation (the catalog shows it)."""
        return {
            "row_filtered": bool(self.filters),
            "masked": sorted(c for c, _ in self.masked),
            "hidden": sorted(self.hidden),
        }


@dataclass(frozen=True)
class Effective:
    """The policies in force for one query: per relation, and which policies changed it."""

    relations: Mapping[str, RelationPolicy] = field(default_factory=dict)
    applied: tuple[str, ...] = ()
    digest: str = ""

    @property
    def empty(self) -> bool:
        return not self.relations

    def of(self, relation: str) -> RelationPolicy | None:
        return self.relations.get(relation)

    def hidden(self) -> dict[str, frozenset[str]]:
        return {r: p.hidden for r, p in self.relations.items() if p.hidden}

    def summary(self) -> dict[str, Any] | None:
        """What the answer says about the policies it was computed under (None: none)."""
        if self.empty:
            return None
        rels = self.relations
        return {
            "policies": list(self.applied),
            "row_filtered": sorted(r for r, p in rels.items() if p.filters),
            "masked": sorted(f"{r}.{c}" for r, p in rels.items() for c, _ in p.masked),
            "hidden": sorted(f"{r}.{c}" for r, p in rels.items() for c in p.hidden),
        }


NO_POLICY = Effective()


class PolicyDenied(Forbidden):
    code = "policy_denied"


# -- predicates -----------------------------------------------------------------------------
def check_predicate(dimension: TableDef, predicate: str) -> tuple[str, tuple[str, ...]]:
    """Validate a row policy's predicate: a condition on the dimension's own columns, with
    ``:name`` attribute placeholders, allowlisted functions only and no subquery. Returns the
    normalized text and the attribute names it uses."""
    from ledgerhouse.query.guard import check_query

    try:
        tree = sqlglot.parse_one(predicate, read="duckdb")
    except sqlglot.errors.SqlglotError as exc:
        raise InvalidRequest(
            f"the predicate could not be parsed: {str(exc).splitlines()[0][:200]}",
            hint="Write a condition such as desk IN (:desks) or portfolio_code = :portfolio.",
        ) from None
    if tree.find(exp.Subquery, exp.Select, exp.Query) is not None:
        raise InvalidRequest(
            "a row policy's predicate may not hold a subquery",
            hint="Write a condition on the dimension's own columns.",
        )
    columns = set(dimension.column_names)
    for col in tree.find_all(exp.Column):
        if col.table and col.table != dimension.relation:
            raise InvalidRequest(
                f"the predicate names {col.sql()!r}: only {dimension.relation}'s columns",
                hint=f"Columns: {', '.join(dimension.column_names)}.",
            )
        if col.name not in columns:
            raise InvalidRequest(
                f"{dimension.relation} has no column {col.name!r}",
                hint=f"Columns: {', '.join(dimension.column_names)}.",
            )
    names = tuple(sorted({str(p.this) for p in tree.find_all(exp.Placeholder) if p.this}))
    if any(p.this is None or str(p.this).isdigit() for p in tree.find_all(exp.Placeholder)):
        raise InvalidRequest(
            "the predicate's parameters are the caller's attributes, named",
            hint="Write :desks (an attribute name), not ? or $1.",
        )
    bound = bind_predicate(tree.sql(dialect="duckdb"), {n: ("x",) for n in names})
    check_query(f"SELECT 1 FROM {dimension.relation} WHERE {bound}", {dimension.relation})
    return tree.sql(dialect="duckdb"), names


def bind_predicate(predicate: str, attributes: Mapping[str, tuple[str, ...]]) -> str:
    """The predicate with each ``:name`` replaced by the caller's values as literals: a list
    in ``IN (:name)`` and after ``=`` (several values mean any of them); a missing attribute
    matches nothing."""
    tree = sqlglot.parse_one(predicate, read="duckdb")

    def literals(name: str) -> list[exp.Expression]:
        return [exp.Literal.string(v) for v in attributes.get(name, ())]

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.In) and len(node.expressions) == 1:
            only = node.expressions[0]
            if isinstance(only, exp.Placeholder) and only.this:
                values = literals(str(only.this))
                if not values:
                    return exp.false()
                return exp.In(this=node.this, expressions=values)
        if isinstance(node, exp.EQ):
            for side, other in ((node.expression, node.this), (node.this, node.expression)):
                if isinstance(side, exp.Placeholder) and side.this:
                    values = literals(str(side.this))
                    if not values:
                        return exp.false()
                    return exp.In(this=other, expressions=values)
        if isinstance(node, exp.Placeholder) and node.this:
            values = literals(str(node.this))
            return values[0] if len(values) == 1 else exp.null()
        return node

    return tree.transform(swap).sql(dialect="duckdb")


# -- the engine ------------------------------------------------------------------------------
ValuesOf = Callable[[str, str, str], frozenset[str]]  # (tenant, dimension relation, sql)


class PolicyEngine:
    """The effective policy of a principal's query. Ports: ``rules_of(tenant)`` (the tenant's
    grants and policies, access/grants.py), ``classified_of(tenant)`` ({(relation, column):
    labels}, derived columns included), ``values_of(tenant, dimension, sql)`` (runs the
    members' query on the latest commit), ``version_of(tenant, relation)`` (its latest
    version, a cache key), ``relations_of(tenant)``, ``code_columns`` ({relation: {code
    column: the relation's column}} where it differs from the code's own name, e.g. a
    rollup's ``portfolio``), ``derived_from`` and ``unfilterable`` (relations that hold rows
    of any member, such as quarantined records: refused to a row-restricted principal)."""

    def __init__(
        self,
        rules_of: Callable[[str], TenantRules],
        classified_of: Callable[[str], Mapping[tuple[str, str], Collection[str]]],
        values_of: ValuesOf,
        version_of: Callable[[str, str], int | None],
        relations_of: Callable[[str], Mapping[str, TableDef]],
        read_set: Callable[[Collection[str], str], list[str]],
        code_columns: Mapping[str, Mapping[str, str]] | None = None,
        unfilterable: Collection[str] = ("quarantine",),
        upstream_of: Callable[[str], Mapping[tuple[str, str], Collection[tuple[str, str]]]]
        | None = None,
        authored_of: Callable[[str], Collection[str]] | None = None,
        tenant_code_columns: Callable[[str], Mapping[str, Mapping[str, str]]] | None = None,
    ) -> None:
        self.rules_of = rules_of
        self.classified_of = classified_of
        self.values_of = values_of
        self.version_of = version_of
        self.relations_of = relations_of
        self.read_set = read_set
        self.code_columns = {k: dict(v) for k, v in (code_columns or {}).items()}
        self.unfilterable = frozenset(unfilterable)
        #: (relation, column) -> every column it is derived from (the lineage graph): a column
        #: derived from one a grant hides is hidden too
        self.upstream_of = upstream_of or (lambda _tenant: {})
        #: the relations a tenant's admin wrote the SQL of (its own marts): their code column
        #: may hold any aggregate, so a row policy cannot be trusted to filter them: refused
        self.authored_of = authored_of or (lambda _tenant: ())
        #: a tenant's own rollups -> {code: column}, as ``code_columns``
        self.tenant_code_columns = tenant_code_columns or (lambda _tenant: {})
        self._members: OrderedDict[tuple[Any, ...], frozenset[str]] = OrderedDict()
        self._lock = threading.Lock()

    def rules(self, tenant: str) -> TenantRules:
        return self.rules_of(tenant)

    def restricts(self, principal: Principal) -> bool:
        """Whether a policy or a read grant may change what ``principal`` reads."""
        rules = self.rules_of(principal.tenant)
        return bool(
            rules.row_policies_for(principal)
            or rules.column_policies_for(principal)
            or any(g.action == "read" and g.matches(principal) for g in rules.grants)
        )

    def attach(self, principal: Principal) -> Principal:
        """``principal`` deciding by its tenant's grants, read at their current generation on
        each decision (``Warehouse.session`` attaches them; the query service too, so a
        caller that did not come through a session is still held to a deny)."""
        if principal.rules is not None or principal.is_platform_admin:
            return principal
        return principal.with_rules(_TenantGrants(self, principal.tenant))

    def effective(self, principal: Principal, relations: Collection[str]) -> Effective:
        """The policies in force for ``principal`` reading ``relations``; raises PolicyDenied
        for a relation a row policy cannot be applied to."""
        rules = self.rules_of(principal.tenant)
        row = rules.row_policies_for(principal)
        col = rules.column_policies_for(principal)
        if not row and not col and not rules.grants:
            return NO_POLICY
        tables = self.relations_of(principal.tenant)
        allowed = self._allowed(principal, row) if row else {}
        classified = self.classified_of(principal.tenant) if col else {}
        out: dict[str, RelationPolicy] = {}
        applied: set[str] = set()
        granted = any(g.action == "read" and g.matches(principal) for g in rules.grants)
        upstream = self.upstream_of(principal.tenant) if granted else {}
        denied_in: dict[str, frozenset[str]] = {}

        def denied_of(relation: str) -> frozenset[str]:
            """What a deny covers in ``relation``: what a derived column inherits."""
            if relation not in denied_in:
                known = tables.get(relation)
                names = known.column_names if known is not None else []
                denied_in[relation] = rules.denied_columns(principal, relation, names)
            return denied_in[relation]

        authored = frozenset(self.authored_of(principal.tenant)) if row else frozenset()
        for relation in sorted(relations):
            table = tables[relation]
            if relation in authored:
                raise PolicyDenied(
                    f"{relation} is a mart of the tenant's own SQL: row policy "
                    f"{', '.join(sorted(p.name for p in row))} cannot vouch that its "
                    f"{', '.join(sorted({p.code_column for p in row}))} rows hold only that "
                    "member's data",
                    hint="Query the tables it is built from (they are filtered), or ask an "
                    "admin to read it.",
                    relation=relation,
                    policies=sorted(p.name for p in row),
                )
            filters = self._filters(
                principal.tenant, relation, table, tables, allowed, row, applied
            )
            masked, hidden = self._columns(relation, table, classified, col, applied)
            hidden |= rules.hidden_columns(principal, relation, table.column_names)
            if granted:  # what is derived from a denied column is denied too
                for column in table.column_names:
                    sources = upstream.get((relation, column), ())
                    inherited = any(
                        c in denied_of(r) for r, c in sources if (r, c) != (relation, column)
                    )
                    if inherited and not rules.allowed_column(principal, relation, column):
                        hidden.add(column)
                if relation in self.unfilterable and any(
                    denied_of(r) for r in tables if r.startswith("raw_")
                ):  # quarantined records are raw records: their text holds denied values
                    hidden |= {"record", "reason"} & set(table.column_names)
            policy = RelationPolicy(filters, masked, frozenset(hidden))
            if not policy.empty:
                out[relation] = policy
        if not out:
            return NO_POLICY
        digest = hashlib.sha256(repr(sorted(out.items())).encode()).hexdigest()[:32]
        return Effective(out, tuple(sorted(applied)), digest)

    def _filters(
        self,
        tenant: str,
        relation: str,
        table: TableDef,
        tables: Mapping[str, TableDef],
        allowed: Mapping[str, frozenset[str]],
        row: list[RowPolicy],
        applied: set[str],
    ) -> tuple[tuple[str, frozenset[str] | None], ...]:
        filters: list[tuple[str, frozenset[str] | None]] = []
        for dimension, members in sorted(allowed.items()):
            code = POLICY_DIMENSIONS[dimension]
            names = [p.name for p in row if p.dimension == dimension]
            column = self._code_column(tenant, relation, table, code)
            if (
                column is None
                and self._holds_members(relation)
                and not self._universe(tenant, dimension) - members
            ):  # every member allowed: a relation built from the facts (a desk-level
                # rollup) holds nothing denied, whatever it keeps (no condition)
                filters.append((code, None))
                applied.update(names)
                continue
            if column is not None:
                filters.append(self._condition(tenant, relation, table, dimension, column,
                                               members))  # fmt: skip
                applied.update(names)
                continue
            if relation in self.unfilterable:
                raise PolicyDenied(
                    f"{relation} holds records of every {code}: row policy "
                    f"{', '.join(names)} cannot be applied to it",
                    hint="Ask an admin to read it, or query the tables the records load into.",
                    relation=relation,
                    policies=names,
                )
            sources = sorted(
                (
                    s
                    for s in self.read_set([relation], tenant)
                    if s != relation
                    and s in tables
                    and self._code_column(tenant, s, tables[s], code)
                ),
                key=lambda s: (s.startswith("dim_"), s),  # a fact first: what to query instead
            )
            if sources:
                raise PolicyDenied(
                    f"{relation} is built from {', '.join(sources)} but has no {code} column: "
                    f"row policy {', '.join(names)} cannot be applied to it",
                    hint=f"Query {sources[0]} (it carries {code}), or a cube (its rollups "
                    "are used when they keep the policy's dimension).",
                    relation=relation,
                    policies=names,
                )
        return tuple(filters)

    def _condition(
        self,
        tenant: str,
        relation: str,
        table: TableDef,
        dimension: str,
        column: str,
        members: frozenset[str],
    ) -> tuple[str, frozenset[str] | None]:
        """The cheapest condition equal to ``column IN members`` on ``relation``. Every row of
        a relation other than the raw records and the quarantine holds a member the dimension
        has had (ingestion refuses an unknown member, and a member never leaves the dimension:
        its versions are computed from every record ever received), so there: no condition
        when every member is allowed, ``NOT IN`` the few members denied when they are fewer
        than those allowed (a probe of a small set, not of a large one)."""
        if not self._holds_members(relation):
            return (column, members)  # raw records may name any member, or none
        universe = self._universe(tenant, dimension)
        denied = universe - members
        if not denied:
            return (column, None)
        if len(denied) < len(members):
            return (column, frozenset(_NOT + m for m in denied))
        return (column, members)

    def _holds_members(self, relation: str) -> bool:
        """Whether every row of ``relation`` holds (or is built from rows that hold) a member
        the dimension has had: everything but the raw records and the quarantine."""
        return not relation.startswith("raw_") and relation not in self.unfilterable

    def _universe(self, tenant: str, dimension: str) -> frozenset[str]:
        """Every member the dimension has had (any version) at the latest commit."""
        code = POLICY_DIMENSIONS[dimension]
        sql = f'SELECT DISTINCT "{code}" FROM {{dimension}}'
        return self._cached(("universe", tenant, dimension), tenant, dimension, lambda: sql)

    def _cached(
        self, key: tuple[Any, ...], tenant: str, dimension: str, sql: Callable[[], str]
    ) -> frozenset[str]:
        """The values of the query ``sql()`` over ``dimension`` at its latest version, read
        once per (``key``, version) (an LRU of 4,096)."""
        full = (*key, self.version_of(tenant, dimension))
        with self._lock:
            found = self._members.get(full)
            if found is not None:
                self._members.move_to_end(full)
                return found
        found = self.values_of(tenant, dimension, sql())
        with self._lock:
            self._members[full] = found
            while len(self._members) > 4096:
                self._members.popitem(last=False)
        return found

    def _code_column(self, tenant: str, relation: str, table: TableDef, code: str) -> str | None:
        """The column of ``relation`` holding ``code``. A rollup is filtered by the column its
        cube declares as the fact's code only (a rollup's column is a cube member's name,
        which need not hold what it is called)."""
        for mapping in (self.code_columns, self.tenant_code_columns(tenant)):
            if relation in mapping:
                return mapping[relation].get(code)
        return code if code in table.column_names else None

    def _columns(
        self,
        relation: str,
        table: TableDef,
        classified: Mapping[tuple[str, str], Collection[str]],
        col: list[ColumnPolicy],
        applied: set[str],
    ) -> tuple[tuple[tuple[str, str], ...], set[str]]:
        masked: list[tuple[str, str]] = []
        hidden: set[str] = set()
        if not col:
            return (), hidden
        for column in table.column_names:
            labels = set(classified.get((relation, column), ()))
            if not labels:
                continue
            hits = [p for p in col if p.classification in labels]
            if not hits:
                continue
            deny = [p for p in hits if p.action == "deny"]
            if deny:
                hidden.add(column)
                applied.update(p.name for p in deny)
            else:
                masked.append((column, hits[0].mask))
                applied.add(hits[0].name)
        return tuple(masked), hidden

    def _allowed(self, principal: Principal, row: list[RowPolicy]) -> dict[str, frozenset[str]]:
        """The members each policed dimension allows ``principal`` (union over its
        policies of one dimension)."""
        out: dict[str, frozenset[str]] = {}
        attrs = dict(principal.attributes)
        tables = self.relations_of(principal.tenant)
        for policy in row:
            key = (principal.tenant, policy.name, policy.version, policy.predicate,
                   tuple(sorted(attrs.items())))  # fmt: skip

            def sql(p: RowPolicy = policy) -> str:  # a sqlglot rewrite: only on a miss
                return _members_sql(p, tables[p.dimension], attrs)

            members = self._cached(key, principal.tenant, policy.dimension, sql)
            out[policy.dimension] = out.get(policy.dimension, frozenset()) | members
        return out


class _TenantGrants:
    def __init__(self, engine: PolicyEngine, tenant: str) -> None:
        self._engine, self._tenant = engine, tenant

    def decide(self, principal: Principal, action: str, resource: Any) -> bool | None:
        return self._engine.rules(self._tenant).decide(principal, action, resource)


def _members_sql(
    policy: RowPolicy, dimension: TableDef, attributes: Mapping[str, tuple[str, ...]]
) -> str:
    """The query of the members a policy allows, over the dimension's current versions
    (``{dimension}`` stands for its pinned version)."""
    code = policy.code_column
    current = " AND is_current" if "is_current" in dimension.column_names else ""
    predicate = bind_predicate(policy.predicate, attributes)
    return f'SELECT DISTINCT "{code}" FROM {{dimension}} WHERE ({predicate}){current}'


# -- the rewrite -----------------------------------------------------------------------------
def fragment(
    bound: str,
    table: TableDef,
    policy: RelationPolicy | None,
    secret: str,
    members_table: Callable[[frozenset[str]], str] | None = None,
) -> str:
    """What a reference to ``table`` (bound as ``bound``) reads under ``policy``: the bound
    name itself, or a subquery over it with the allowed rows and the visible columns. The
    allowed members are read from a bound table (``members_table(values)`` names it) when
    one is given, else written as literals."""
    name = _quote(bound)
    if policy is None or policy.empty:
        return name
    conditions = (_allowed(column, members, members_table) for column, members in policy.filters)
    where = " AND ".join(c for c in conditions if c is not None)
    if not where and not policy.masked and not policy.hidden:
        return name  # every member allowed, nothing masked: the relation as it is
    where = f" WHERE {where}" if where else ""
    if not policy.masked and not policy.hidden:
        return f"(SELECT * FROM {name}{where})"  # rows only: every column as it is
    masked = dict(policy.masked)
    types = dict(table.columns)
    columns = []
    for column in table.column_names:
        if column in policy.hidden:
            continue
        q = _quote(column)
        mode = masked.get(column)
        if mode is None:
            columns.append(q)
        elif mode == "hash":
            salt = _literal(secret)
            columns.append(
                f"CASE WHEN {q} IS NULL THEN NULL ELSE 'h:' || left(sha256({salt} || "
                f"CAST({q} AS VARCHAR)), 16) END AS {q}"
            )
        elif mode == "redact" and str(types[column]) in ("string", "large_string"):
            columns.append(f"CASE WHEN {q} IS NULL THEN NULL ELSE '{REDACTED}' END AS {q}")
        else:  # null, or a redacted non-text value: a NULL of the column's own type
            columns.append(f"CASE WHEN false THEN {q} END AS {q}")

    select = ", ".join(columns) if columns else 'NULL AS "(no readable column)"'
    return f"(SELECT {select} FROM {name}{where})"


def _allowed(
    column: str,
    members: frozenset[str] | None,
    members_table: Callable[[frozenset[str]], str] | None,
) -> str | None:
    if members is None:
        return None  # every member allowed, every row holds one
    if not members:
        return "false"
    if all(v.startswith(_NOT) for v in members):  # every row holds a member: the denied ones
        denied = sorted(v.removeprefix(_NOT) for v in members)
        return f"{_quote(column)} NOT IN ({', '.join(_literal(v) for v in denied)})"
    if members_table is not None:
        return f"{_quote(column)} IN (SELECT code FROM {_quote(members_table(members))})"
    return f"{_quote(column)} IN ({', '.join(_literal(v) for v in sorted(members))})"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
