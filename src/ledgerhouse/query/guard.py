"""The SQL guard: a text runs only if it is one read-only query over relations the caller may read,
calling only allowlisted pure functions.

An allowlist, checked on the parsed tree (SQLGlot, DuckDB dialect), scope by scope:

- **Limits first.** Length and bracket nesting are checked on the raw text before any parse.
- **One query.** Exactly one SELECT (WITH, set operations, FROM-first, PIVOT/UNPIVOT included);
  no DDL, DML, COPY, ATTACH, SET, PRAGMA, EXPORT, ... anywhere in the tree.
- **Relations, scope-aware.** Each table reference is resolved through SQLGlot's scopes: a name
  is a CTE only inside the scope that defines it (or below it); every other name must be a
  warehouse relation of the caller, bare (no schema, catalog or file path). CTE names may not
  look like DuckDB's catalog (``duckdb_*``, ``pg_*``, ``sqlite_*``, ``information_schema``).
- **Functions, allowlisted.** Every call (scalar, aggregate, window, table; quoted, any case,
  schema-prefixed, unicode look-alikes folded) is compared on its normalized name with
  ``allowlist.FUNCTIONS``; only ``allowlist.TABLE_FUNCTIONS`` may stand where a table does.
  The SQL that runs is regenerated from the checked tree, and every call in that text is
  checked again (a second wall against a generator that writes a call the tree did not show).

The sandboxed engine (the tenant root as its only directory, external access off,
configuration locked) is the wall behind this one.
"""

from __future__ import annotations

import functools
import re
import secrets
import unicodedata
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.optimizer.scope import traverse_scope
from sqlglot.tokens import Token, TokenType

from ledgerhouse.errors import QueryRejected, did_you_mean
from ledgerhouse.query.allowlist import FUNCTIONS, TABLE_FUNCTIONS, VOLATILE

MAX_SQL_CHARS = 100_000
#: Texts from this length on are checked in a worker process (see check_query).
LONG_TEXT = 10_000
#: Deepest bracket nesting accepted; checked on the raw text before parsing (deeper texts made
#: the parser recurse past Python's limit).
MAX_NESTING = 64
_CTE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_CATALOG_PREFIXES = ("duckdb_", "pg_", "sqlite_", "information_schema", "__")
_CALL = re.compile(r'^\s*"?([A-Za-z_][A-Za-z0-9_]*)"?\s*\(')
#: Words DuckDB writes before a parenthesis that are clauses, not calls (``* EXCLUDE (a)``).
_CLAUSES = frozenset({"exclude", "rename", "replace", "filter", "over", "within", "values"})
#: Functions whose output grows with an argument, and the positions of those arguments. DuckDB
#: folds a constant call while planning, where no interrupt reaches it (``repeat('x', 1e9)``
#: ran 19 s past a 1 s limit), so such an argument must be a column or a literal up to
#: MAX_GENERATED; a constant expression or a subquery there is refused.
_SIZE_ARGUMENTS: dict[str, tuple[int, ...]] = {
    "repeat": (1,), "lpad": (1,), "rpad": (1,), "list_resize": (1,), "array_resize": (1,),
    "range": (0, 1, 2), "generate_series": (0, 1, 2), "bar": (3,),
}  # fmt: skip
MAX_GENERATED = 1_000_000
#: Functions that take another function's name as a text argument: that name is checked too.
_NAMED_AGGREGATE = frozenset(
    {"aggregate", "list_aggregate", "array_aggregate", "list_aggr", "array_aggr"}
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
    functions: frozenset[str] = frozenset()  # normalized names of every function called
    placeholders: int = 0  # the parameters the query takes (? each, or the highest $n)

    @property
    def volatile(self) -> bool:
        """Whether the answer may change with no table changing (now(), random(), ...)."""
        return bool(self.functions & VOLATILE)

    def render(self, names: dict[str, str]) -> str:
        """The SQL with every reference to a warehouse relation replaced by the name it is
        bound to (e.g. a pinned version's view); the original name stays the alias."""
        return self.render_sources({r: '"' + n.replace('"', '""') + '"' for r, n in names.items()})

    def render_sources(self, sources: dict[str, str]) -> str:
        """The SQL with every reference to a warehouse relation replaced by its SQL text: a
        quoted name, or a parenthesized subquery (a row or column policy's view of the
        relation, query/policies.py); the original name stays the alias."""
        text = self.template or self.sql
        for relation, source in sources.items():
            text = text.replace(_placeholder(relation), source)
        return text


def _placeholder(relation: str) -> str:
    return f'"__lh_{_NONCE}_{relation}"'


def placeholder_nonce() -> str:
    return _NONCE


def use_placeholder_nonce(nonce: str) -> None:
    """Make this process's placeholders carry ``nonce`` (the long-text checker's worker: the
    templates it returns are rendered by the server process)."""
    global _NONCE
    if nonce != _NONCE:
        _NONCE = nonce
        _check_cached.cache_clear()


def _reject(message: str, hint: str = "", **details: object) -> QueryRejected:
    return QueryRejected(
        message,
        hint=hint or "Send one SELECT (or WITH ... SELECT) over the warehouse tables.",
        **details,
    )


def check_text_limits(sql: object) -> str:
    """The checks that run before anything parses the text: type, emptiness, length and
    bracket nesting. Returns the text."""
    if not isinstance(sql, str):
        raise _reject("the SQL text must be a string")
    if not sql.strip():
        raise _reject("the SQL text is empty")
    if len(sql) > MAX_SQL_CHARS:
        raise _reject(
            f"the SQL text has {len(sql):,} characters; the limit is {MAX_SQL_CHARS:,}",
            hint="Send a shorter query: move long value lists into parameters or a table.",
        )
    depth = _max_nesting(sql)
    if depth > MAX_NESTING:
        raise _reject(
            f"the SQL text nests brackets {depth} deep; the limit is {MAX_NESTING}",
            hint="Flatten the query: use CTEs (WITH) instead of deeply nested subqueries.",
        )
    return sql


def _max_nesting(sql: str) -> int:
    """Deepest nesting of (), [] and {} outside string literals, quoted names and comments."""
    depth = deepest = 0
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"":
            end = sql.find(c, i + 1)
            i = n if end < 0 else end + 1
            continue
        if c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if c == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if c in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in ")]}":
            depth = max(depth - 1, 0)
        i += 1
    return deepest


def check_query(sql: str, known: set[str] | frozenset[str]) -> CheckedQuery:
    """Check ``sql`` (memoized: the check is a pure function of the text and the relations).
    Every limit is checked inside the check, before the parse; only the type and the length
    are looked at here, so an oversized text is neither memoized nor sent to the worker."""
    if not isinstance(sql, str):
        raise _reject("the SQL text must be a string")
    if len(sql) > MAX_SQL_CHARS:
        check_text_limits(sql)  # raises, naming the length
    known = frozenset(known)
    # memoize ordinary queries only: 4,096 texts of up to 10k characters stay small
    if len(sql) < LONG_TEXT:
        return _check_cached(sql, known)
    # A long text holds the interpreter for up to a second while it parses: it is checked in a
    # worker process, one at a time, with a deadline (query/long_texts.py).
    from ledgerhouse.query.long_texts import check_long_text

    checked: CheckedQuery = check_long_text(sql, known)
    return checked


def check_in_process(sql: str, known: frozenset[str]) -> CheckedQuery:
    """The check itself, in this process (what the long-text worker runs)."""
    return _check(sql, known)


def _check(sql: str, known: frozenset[str]) -> CheckedQuery:
    # Unicode look-alikes (fullwidth letters, ligatures) fold to ASCII; what remains outside
    # string literals is judged by the parser like anything else. Folding can lengthen a text.
    text = check_text_limits(unicodedata.normalize("NFKC", sql))
    if f"__lh_{_NONCE}" in text:  # this process's placeholders: never in a caller's text
        raise _reject(
            "the SQL text holds a reserved marker",
            hint="Rename the identifier or literal.",
        )
    try:
        statements = [s for s in sqlglot.parse(text, read="duckdb") if s is not None]
    except (ParseError, TokenError) as exc:
        raise _reject(f"the SQL could not be parsed: {str(exc).splitlines()[0][:300]}") from exc
    except RecursionError:
        raise _reject(
            "the SQL text is nested too deeply to check",
            hint="Flatten the query: fewer nested expressions or subqueries.",
        ) from None
    if len(statements) != 1:
        raise _reject(f"expected exactly one statement, got {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, exp.Query | exp.Pivot):
        raise _reject(f"only queries are allowed, not {tree.key.upper()}")
    try:
        return _check_tree(tree, known)
    except RecursionError:
        raise _reject(
            "the SQL text is nested too deeply to check",
            hint="Flatten the query: fewer nested expressions or subqueries.",
        ) from None


def _check_tree(tree: exp.Expr, known: frozenset[str]) -> CheckedQuery:
    cte_refs = _cte_references(tree)
    relations: set[str] = set()
    functions: set[str] = set()
    references: list[exp.Table] = []
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            raise _reject(f"{node.key.upper()} is not allowed in a query", part=node.sql()[:120])
        if isinstance(node, exp.CTE):
            _check_cte_name(node)
        if isinstance(node, exp.Func):
            functions.add(_check_function(node))
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            if id(node) in cte_refs:
                continue
            relations.add(_check_relation(node, known))
            references.append(node)
        elif isinstance(node, exp.Table):
            _check_table_function(node)
    checked_sql = tree.sql(dialect="duckdb", comments=False)
    _check_calls_in_text(checked_sql, functions)
    for node in references:  # the template: same tree, relation names as placeholders
        name = _fold(node.this.name)  # as _check_relation resolved it ("t " is t)
        if not node.alias:
            node.set("alias", exp.TableAlias(this=exp.to_identifier(node.this.name)))
        node.set("this", exp.to_identifier(_placeholder(name)[1:-1], quoted=True))
    return CheckedQuery(
        sql=checked_sql,
        relations=frozenset(relations),
        template=tree.sql(dialect="duckdb", comments=False),
        functions=frozenset(functions),
        placeholders=_placeholders(tree),
    )


def _placeholders(tree: exp.Expr) -> int:
    """How many parameters ``tree`` takes: one per ``?``, or the highest ``$n``."""
    numbered, anonymous = 0, 0
    for node in tree.find_all(exp.Placeholder):
        name = node.this
        if isinstance(name, str) and name.isdigit():
            numbered = max(numbered, int(name))
        elif name is None:
            anonymous += 1
    return max(numbered, anonymous)


_check_cached = functools.lru_cache(maxsize=4096)(_check)


def _cte_references(tree: exp.Expr) -> set[int]:
    """The table references that name a CTE visible in their own scope (ids of the nodes).
    A reference no scope accounts for is treated as a warehouse relation (fail closed)."""
    refs: set[int] = set()
    try:
        scopes = traverse_scope(tree)
    except SqlglotError as exc:
        raise _reject(f"the query's scopes could not be resolved: {str(exc)[:200]}") from None
    for scope in scopes:
        visible = {name.lower() for name in scope.cte_sources}
        for table in scope.tables:
            if table.name.lower() in visible and not table.args.get("db"):
                refs.add(id(table))
    return refs


def _check_cte_name(node: exp.CTE) -> None:
    name = unicodedata.normalize("NFKC", node.alias_or_name).lower()  # no strip: "t\n" fails
    if not _CTE_NAME.fullmatch(name) or name.startswith(_CATALOG_PREFIXES):
        raise _reject(
            f"CTE name {node.alias_or_name!r} is not allowed",
            hint="Name CTEs with letters, digits and '_' (not duckdb_*, pg_*, sqlite_*, "
            "information_schema or a leading '__').",
            part=node.alias_or_name,
        )


def _fold(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip().lower()


def _function_name(node: exp.Func) -> str:
    """The name DuckDB will see: the call's own name for a function SQLGlot does not know
    (quotes dropped), else the name SQLGlot writes for it in DuckDB SQL."""
    if isinstance(node, exp.Anonymous):
        this = node.this
        return _fold(this.name if isinstance(this, exp.Identifier) else str(this))
    match = _CALL.match(node.sql(dialect="duckdb"))
    return _fold(match.group(1)) if match else ""


def _check_function(node: exp.Func) -> str:
    name = _function_name(node)
    if not name:  # written as an operator or keyword form (CASE, x + INTERVAL, CURRENT_DATE)
        return node.key  # recorded by its node type, e.g. "currentdate" (see VOLATILE)
    in_table_position = isinstance(node.parent, exp.Table | exp.Lateral) and node.arg_key == "this"
    if in_table_position:
        if name not in TABLE_FUNCTIONS:
            raise _reject(
                f"table function {name}() is not allowed",
                hint="Only range, generate_series and unnest may stand where a table does; "
                "query the warehouse tables by name (`ledgerhouse tables`).",
                part=name,
            )
    elif name not in FUNCTIONS and name not in TABLE_FUNCTIONS:
        raise _reject(
            f"function {name}() is not allowed",
            hint="Only pure SQL functions are allowed; docs/security.md lists them.",
            part=name,
        )
    if name in _NAMED_AGGREGATE:
        _check_named_aggregate(node, name)
    if name in _SIZE_ARGUMENTS and not in_table_position:
        _check_size_arguments(node, name)
    return name


def _arguments(node: exp.Func) -> list[exp.Expression]:
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    return [node.args[k] for k in node.arg_types if isinstance(node.args.get(k), exp.Expression)]


def _check_size_arguments(node: exp.Func, name: str) -> None:
    args = _arguments(node)
    for position in _SIZE_ARGUMENTS[name]:
        if position >= len(args):
            continue
        arg = args[position]
        value = arg.this if isinstance(arg, exp.Neg) else arg
        if isinstance(value, exp.Literal) and not value.is_string:
            try:
                too_big = abs(float(value.this)) > MAX_GENERATED
            except ValueError:
                too_big = True
            if too_big:
                raise _reject(
                    f"{name}() would build a value of {value.this} elements; the limit is "
                    f"{MAX_GENERATED:,}",
                    hint="Use range()/generate_series() as a table (FROM range(n)), which "
                    "streams and can be interrupted, or a smaller size.",
                    part=name,
                )
        elif isinstance(value, exp.Literal | exp.Interval | exp.Placeholder | exp.Parameter):
            continue
        elif isinstance(value, exp.Cast) and isinstance(value.this, exp.Literal):
            continue  # a typed literal: date '2024-01-01', '1 day'::interval
        elif not any(True for _ in value.find_all(exp.Column)) or value.find(exp.Subquery):
            raise _reject(
                f"the size argument of {name}() must be a column or a literal",
                hint=f"Write the number itself (at most {MAX_GENERATED:,}), or use range() "
                "as a table: FROM range(n).",
                part=name,
            )


def _check_named_aggregate(node: exp.Func, name: str) -> None:
    args = node.expressions if isinstance(node, exp.Anonymous) else list(node.iter_expressions())
    named = args[1] if len(args) > 1 else None
    if not (isinstance(named, exp.Literal) and named.is_string and _fold(named.this) in FUNCTIONS):
        raise _reject(
            f"{name}() must name an allowed aggregate as a text literal",
            hint="For example list_aggregate(values, 'sum').",
            part=name,
        )


def _check_table_function(node: exp.Table) -> None:
    this = node.this
    if not isinstance(this, exp.Func):
        what = this.sql()[:80] if this is not None else "?"
        raise _reject(
            f"{what} cannot stand where a table does",
            hint="Query the warehouse tables by name; list them with `ledgerhouse tables`.",
            part=what,
        )
    # the function itself is checked as a node of the walk (table position)


def _check_calls_in_text(sql: str, functions: set[str]) -> None:
    """Every ``name(`` in the text that will run is an allowlisted call, a table or CTE alias
    with its column list (``AS t(a, b)``, ``WITH t(a) AS``), or a type (``DECIMAL(38, 6)``)."""
    tokens = sqlglot.tokenize(sql, read="duckdb")
    for i in range(len(tokens) - 1):
        tok = tokens[i]
        if tok.token_type not in (TokenType.VAR, TokenType.IDENTIFIER):
            continue
        if tokens[i + 1].token_type != TokenType.L_PAREN:
            continue
        if i and tokens[i - 1].token_type == TokenType.ALIAS:
            continue  # AS name(col, ...)
        if _followed_by_as(tokens, i + 1):
            continue  # WITH name(col, ...) AS (...)
        name = _fold(tok.text)
        if name in FUNCTIONS or name in TABLE_FUNCTIONS or name in _CLAUSES:
            functions.add(name)
            continue
        raise _reject(f"function {name}() is not allowed", part=name)


def _followed_by_as(tokens: list[Token], open_at: int) -> bool:
    depth = 0
    for j in range(open_at, len(tokens)):
        kind = tokens[j].token_type
        if kind == TokenType.L_PAREN:
            depth += 1
        elif kind == TokenType.R_PAREN:
            depth -= 1
            if depth == 0:  # CTE columns: ") AS (" or ") AS [NOT] MATERIALIZED ("
                after = [t.text.upper() for t in tokens[j + 1 : j + 4]]
                return (
                    bool(after)
                    and after[0] == "AS"
                    and (
                        after[1:2] == ["("]
                        or after[1:2] == ["MATERIALIZED"]
                        or after[1:2] == ["NOT"]
                    )
                )
    return False


def _check_relation(node: exp.Table, known: frozenset[str]) -> str:
    this = node.this
    if node.args.get("db") or node.args.get("catalog"):
        raise _reject(
            f"qualified relation {node.sql()!r} is not allowed",
            hint="Use the bare table name, e.g. fact_trade.",
        )
    name = _fold(this.name)
    if name not in known:
        raise _reject(
            f"unknown relation {this.name!r}.{did_you_mean(this.name, known)}",
            hint="Query the warehouse tables by name; list them with `ledgerhouse tables`.",
            relation=this.name,
        )
    return name
