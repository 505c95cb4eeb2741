"""The SQL guard: a text is run only if it is exactly one read-only query over known relations.

The text is parsed with SQLGlot (DuckDB dialect); the statement that runs is regenerated from
the checked tree, so what runs is what was checked. Refused: several statements, anything but
SELECT / WITH ... SELECT / set operations, DDL and DML, COPY, ATTACH, INSTALL/LOAD, SET/PRAGMA,
table functions (read_csv, glob, ...), functions that read files or settings, qualified or
unknown relations. The sandboxed engine (external access off, configuration locked) is the
second wall behind this one.
"""

from __future__ import annotations

import functools
import secrets
import unicodedata
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from ledgerhouse.errors import QueryRejected

MAX_SQL_CHARS = 100_000

# Scalar or table functions that touch files, settings, the catalog or extensions.
_FORBIDDEN_FUNCTION_PREFIXES = (
    "read_",
    "parquet_",
    "sniff_",
    "glob",
    "getenv",
    "current_setting",
    "duckdb_",
    "pragma_",
    "iceberg_",
    "delta_",
    "sqlite_",
    "postgres_",
    "mysql_",
    "load",
    "install",
    "query",
    "which_secret",
    "json_execute",
    "export",
    "import",
    "checkpoint",
    "force_checkpoint",
    "enable_",
    "disable_",
    "set_",
    "system",
    "ducklake",
    "icu_",
    "arrow_scan",
    "seq_scan",
    "test_",
    "summary",
)

_FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = tuple(
    t
    for t in (
        getattr(exp, name, None)
        for name in (
            "Create",
            "Drop",
            "Insert",
            "Update",
            "Delete",
            "Merge",
            "Alter",
            "AlterTable",
            "Copy",
            "Command",
            "Set",
            "SetItem",
            "Pragma",
            "Use",
            "Attach",
            "Detach",
            "Install",
            "Load",
            "Export",
            "Describe",
            "Show",
            "Transaction",
            "Commit",
            "Rollback",
            "Analyze",
            "Summarize",
            "TruncateTable",
            "Grant",
            "Revoke",
            "Refresh",
            "Cache",
            "Uncache",
            "Into",
        )
    )
    if isinstance(t, type)
)


#: Placeholders for relation names in a template carry a per-process secret, so no text a
#: user writes (a string literal, a quoted identifier) can collide with one.
_NONCE = secrets.token_hex(8)


@dataclass(frozen=True)
class CheckedQuery:
    sql: str  # regenerated from the checked tree
    relations: frozenset[str]
    template: str = ""  # ``sql`` with each relation reference as a placeholder

    def render(self, names: dict[str, str]) -> str:
        """The SQL with every reference to a warehouse relation replaced by the name it is
        bound to (e.g. a pinned version's view); the original name stays the alias."""
        text = self.template or self.sql
        for relation, name in names.items():
            text = text.replace(_placeholder(relation), '"' + name.replace('"', '""') + '"')
        return text


def _placeholder(relation: str) -> str:
    return f'"__lh_{_NONCE}_{relation}"'


def _reject(message: str, hint: str = "", **details: object) -> QueryRejected:
    return QueryRejected(
        message,
        hint=hint or "Send one SELECT (or WITH ... SELECT) over the warehouse tables.",
        **details,
    )


def check_query(sql: str, known: set[str] | frozenset[str]) -> CheckedQuery:
    """Check ``sql`` (memoized: the check is a pure function of the text and the relations)."""
    if not isinstance(sql, str):
        raise _reject("the SQL text must be a string")
    known = frozenset(known)
    # memoize ordinary queries only: 4,096 texts of up to 10k characters stay small
    return _check_cached(sql, known) if len(sql) < 10_000 else _check(sql, known)


def _check(sql: str, known: frozenset[str]) -> CheckedQuery:
    if not sql.strip():
        raise _reject("the SQL text is empty")
    if len(sql) > MAX_SQL_CHARS:
        raise _reject(f"the SQL text has {len(sql):,} characters; the limit is {MAX_SQL_CHARS:,}")
    # Unicode look-alikes (fullwidth letters, ligatures) fold to ASCII; what remains outside
    # string literals is judged by the parser like anything else.
    text = unicodedata.normalize("NFKC", sql)
    try:
        statements = [s for s in sqlglot.parse(text, read="duckdb") if s is not None]
    except (ParseError, TokenError) as exc:
        raise _reject(f"the SQL could not be parsed: {str(exc).splitlines()[0][:300]}") from exc
    if len(statements) != 1:
        raise _reject(f"expected exactly one statement, got {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        raise _reject(f"only queries are allowed, not {tree.key.upper()}")
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    relations: set[str] = set()
    references: list[exp.Table] = []
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            raise _reject(f"{node.key.upper()} is not allowed in a query", part=node.sql()[:120])
        if isinstance(node, exp.Func):
            name = _function_name(node)
            if name.startswith(_FORBIDDEN_FUNCTION_PREFIXES):
                raise _reject(f"function {name}() is not allowed", part=name)
        if isinstance(node, exp.Table):
            name = _check_relation(node, known, ctes)
            relations.add(name)
            if name not in ctes:
                references.append(node)
    checked_sql = tree.sql(dialect="duckdb")
    for node in references:  # the template: same tree, relation names as placeholders
        name = node.this.name.lower()
        if not node.alias:
            node.set("alias", exp.TableAlias(this=exp.to_identifier(node.this.name)))
        node.set("this", exp.to_identifier(_placeholder(name)[1:-1], quoted=True))
    return CheckedQuery(
        sql=checked_sql,
        relations=frozenset(relations - ctes),
        template=tree.sql(dialect="duckdb"),
    )


_check_cached = functools.lru_cache(maxsize=4096)(_check)


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    return node.sql_name().lower()


def _check_relation(node: exp.Table, known: frozenset[str], ctes: set[str]) -> str:
    this = node.this
    if not isinstance(this, exp.Identifier):
        what = this.sql()[:80] if this is not None else "?"
        raise _reject(
            f"table functions are not allowed: {what}",
            hint="Query the warehouse tables by name; list them with `ledgerhouse tables`.",
            part=what,
        )
    if node.args.get("db") or node.args.get("catalog"):
        raise _reject(
            f"qualified relation {node.sql()!r} is not allowed",
            hint="Use the bare table name, e.g. fact_trade.",
        )
    name = this.name.lower()
    if name not in known and name not in ctes:
        raise _reject(
            f"unknown relation {this.name!r}",
            hint="Query the warehouse tables by name; list them with `ledgerhouse tables`.",
            relation=this.name,
        )
    return name
