"""The hostile SQL corpus: statements an attacker sends, by class. Every one must be refused.

Used by the guard's unit test, and run through the library, the HTTP SQL route (plain and with
EXPLAIN), the query-plan route and cube filters.
"""

from __future__ import annotations

#: Statements that are not one read-only query (DDL, DML, COPY, ATTACH, SET, several, ...).
STATEMENTS = [
    "COPY fact_trade TO 'out.csv'",
    "COPY (SELECT 1) TO '/tmp/x.parquet' (FORMAT parquet)",
    "WITH x AS (SELECT 1) COPY x TO 'a.csv'",
    "EXPORT DATABASE '/tmp/dump'",
    "IMPORT DATABASE '/tmp/dump'",
    "ATTACH '/tmp/other.db' AS o",
    "ATTACH ':memory:' AS m",
    "DETACH m",
    "USE m",
    "INSTALL httpfs",
    "LOAD httpfs",
    "FORCE INSTALL httpfs",
    "SET threads = 1",
    "SET enable_external_access = true",
    "SET allowed_directories = ['/']",
    "RESET threads",
    "PRAGMA database_list",
    "PRAGMA enable_profiling",
    "CALL duckdb_settings()",
    "CALL pragma_version()",
    "CREATE TABLE t AS SELECT 1",
    "CREATE TEMP VIEW fact_trade AS SELECT 1",
    "CREATE MACRO m(x) AS x",
    "CREATE SECRET s (TYPE s3, KEY_ID 'x', SECRET 'y')",
    "CREATE SEQUENCE s",
    "DROP TABLE fact_trade",
    'DROP VIEW "fact_trade@1"',
    "ALTER TABLE fact_trade RENAME TO x",
    "INSERT INTO fact_trade SELECT * FROM fact_trade",
    "UPDATE fact_trade SET price = 0",
    "DELETE FROM fact_trade",
    "TRUNCATE fact_trade",
    "MERGE INTO fact_trade USING fact_trade AS s ON true WHEN MATCHED THEN DELETE",
    "SELECT 1; DROP TABLE fact_trade",
    "SELECT 1; SELECT 2",
    "SELECT * FROM fact_trade /* ; */ ; ATTACH '/tmp/x' AS y",
    "SELECT * FROM fact_trade -- comment\n; COPY fact_trade TO 'x.csv'",
    # DESCRIBE <table> and SHOW TABLES are answered from the catalog (test_catalog_statements)
    "DESCRIBE SELECT * FROM read_csv('/etc/passwd')",
    "DESCRIBE pg_settings",
    'DESC "duckdb_settings"',
    "DESCRIBE fact_trade; SELECT 1",
    "SHOW databases",
    "SHOW ALL TABLES",
    "SUMMARIZE fact_trade",
    "BEGIN TRANSACTION",
    "COMMIT",
    "ROLLBACK",
    "CHECKPOINT",
    "VACUUM",
    "ANALYZE",
    "EXPLAIN SELECT 1",
    "PREPARE p AS SELECT 1",
    "EXECUTE p",
    "SELECT * INTO t2 FROM fact_trade",
    "",
    "   ",
    "-- only a comment",
]

#: Functions that read files, settings, the catalog, variables or logs, run dynamic SQL, or
#: change state; each is called in every shape of ``_SHAPES`` below.
DANGEROUS_CALLS = [
    "current_setting('allowed_directories')",
    "getenv('HOME')",
    "read_blob('/etc/passwd')",
    "read_text('/etc/passwd')",
    "read_csv('/etc/passwd')",
    "read_csv_auto('/etc/hosts')",
    "read_parquet('../../other/tenants/x/*.parquet')",
    "read_json_objects('/etc/x.json')",
    "glob('/**')",
    "parquet_metadata('/etc/x.parquet')",
    "sniff_csv('/etc/passwd')",
    "query('select 1')",
    "query_table('fact_trade')",
    "json_execute_serialized_sql('{}')",
    "duckdb_settings()",
    "duckdb_tables()",
    "duckdb_temporary_files()",
    "duckdb_databases()",
    "pragma_version()",
    "checkpoint()",
    "which_secret('s3://x', 's3')",
    "version()",
    "current_database()",
    "getvariable('x')",
    "json_serialize_plan('select 1')",
]

_SHAPES = [
    "SELECT {call}",
    "SELECT * FROM {call}",
    "SELECT * FROM (VALUES (1)) v(a), LATERAL {call}",
    "SELECT * FROM (VALUES (1)) v(a), LATERAL {quoted}",
    "SELECT {quoted}",
    "SELECT {upper}",
    "SELECT main.{call}",
    "SELECT * FROM fact_trade t, LATERAL system.main.{call}",
    "WITH x AS (SELECT * FROM {call}) SELECT * FROM x",
    "SELECT (SELECT count(*) FROM {call}) AS n",
]


def _shapes(call: str) -> list[str]:
    name, _, rest = call.partition("(")
    variants = {
        "call": call,
        "quoted": f'"{name}"({rest}',
        "upper": name.upper() + "(" + rest,
    }
    return [shape.format(**variants) for shape in _SHAPES]


FUNCTION_CALLS = [sql for call in DANGEROUS_CALLS for sql in _shapes(call)]

#: Catalog objects, bound pinned versions and file paths reached through a CTE declared in
#: another scope, or by name.
CTE_SCOPING = [
    f"SELECT * FROM (WITH {name} AS (SELECT 1) SELECT 1) t, {name}"
    for name in (
        "pg_settings",
        "duckdb_tables",
        "duckdb_views",
        "sqlite_master",
        '"fact_trade@1"',
        '"dim_portfolio@0"',
        "information_schema",
        "temp_files",
    )
] + [
    "WITH pg_settings AS (SELECT 1) SELECT * FROM pg_settings",
    "WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a",
    "SELECT * FROM fact_trade WHERE trade_id IN (WITH s AS (SELECT 1) SELECT 1) "
    "UNION ALL SELECT * FROM s",
    "SELECT * FROM (SELECT 1) AS pg_settings, pg_settings",
    "SELECT * FROM pg_settings",
    "SELECT * FROM duckdb_settings",
    "SELECT * FROM sqlite_master",
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM pg_catalog.pg_class",
    'SELECT * FROM "fact_trade@1"',
    'SELECT * FROM "__lh_0000_fact_trade"',
    "SELECT * FROM main.fact_trade",
    "SELECT * FROM memory.main.fact_trade",
    "SELECT * FROM system.main.duckdb_tables",
    "SELECT * FROM temp.main.fact_trade",
    "SELECT * FROM other_tenant.fact_trade",
    "SELECT * FROM unknown_table",
]

#: Files: paths as relations, spill files, the tenant's own Delta files (which would skip the
#: commit pinning), other tenants' folders.
PATHS = [
    "SELECT * FROM '/etc/passwd'",
    'SELECT * FROM "/etc/passwd"',
    "SELECT * FROM 'warehouse/tenants/other/core/fact_trade/x.parquet'",
    'SELECT * FROM "warehouse/tenants/default/core/fact_trade/*/*.parquet"',
    'SELECT * FROM "./.tmp/*"',
    "SELECT * FROM '.tmp/duckdb_temp_storage-0.tmp'",
    "SELECT * FROM '.spill/*/*'",
    "SELECT regexp_extract(content::varchar, 'SECRET-[0-9]+') FROM (VALUES (1)) v(a), "
    "LATERAL \"read_blob\"('.tmp/*')",
    "SELECT * FROM (VALUES (1)) v(a), LATERAL \"read_blob\"('.spill/*/*')",
    "SELECT * FROM (VALUES (1)) v(a), LATERAL \"glob\"('../**')",
    "SELECT * FROM (VALUES (1)) v(a), LATERAL \"read_text\"('../other/core/*')",
    "SELECT * FROM parquet_scan('core/fact_trade/*/*.parquet')",
    "SELECT * FROM read_parquet(['/etc/a.parquet'])",
    "SELECT * FROM fact_trade UNION ALL SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM (SELECT * FROM (SELECT * FROM read_parquet(['/etc/a.parquet'])))",
    "SELECT * FROM fact_trade WHERE price IN (SELECT * FROM read_csv_auto('/etc/hosts'))",
    "SELECT * FROM fact_trade, LATERAL (SELECT * FROM read_csv('/etc/passwd'))",
    "SELECT * FROM iceberg_scan('/tmp/x')",
    "SELECT * FROM delta_scan('/tmp/x')",
    "SELECT * FROM read_duckdb('/tmp/x.db')",
    "SELECT list_aggregate([1], 'current_setting')",
    "SELECT list_aggregate([1], 'read_csv')",
]

#: Look-alikes, odd case and quoting of everything above.
OBFUSCATED = [
    "ＳＥＬＥＣＴ * ＦＲＯＭ read_csv('/etc/passwd')",
    "SELECT ｃｕｒｒｅｎｔ_setting('memory_limit')",
    "SELECT \"Current_Setting\"('memory_limit')",
    "SELECT \"CURRENT_SETTING\"('memory_limit')",
    "SELECT CuRrEnT_sEtTiNg('memory_limit')",
    "SELECT * FROM \"Read_Csv\"('/etc/passwd')",
    "SELECT * FROM ＲＥＡＤ_ＣＳＶ('/etc/passwd')",
    "select/**/current_setting('x')",
    "select\tcurrent_setting\n('x')",
    'SELECT "main"."current_setting"(\'x\')',
    'SELECT "system"."main"."getenv"(\'HOME\')',
    "SELECT pg_catalog.current_setting('x')",
    "SELECT 'abc'.current_setting()",
    "SELECT * FROM fact_trade WHERE current_setting('x') = 'y'",
    "SELECT sum(price) OVER (PARTITION BY getenv('HOME')) FROM fact_trade",
    "SELECT * FROM fact_trade ORDER BY current_setting('x')",
    "SELECT * FROM fact_trade GROUP BY ALL HAVING getenv('x') IS NULL",
    "SELECT list_transform([1], x -> current_setting('x'))",
    "SELECT CASE WHEN true THEN getenv('HOME') END",
    "SELECT coalesce(null, current_setting('x'))",
]

#: Requests that cost the engine far more than their size (folded while planning).
EXPENSIVE = [
    "SELECT length(repeat('x', 50000000))",
    "SELECT length(repeat('x', 1000000 * 1000))",
    "SELECT repeat('x', (SELECT 1000000000))",
    "SELECT list_sum(range(100000000))",
    "SELECT lpad('x', 2000000000, 'y')",
    "SELECT array_resize([1], 1000000000)",
    "SELECT generate_series(1, 1e12)",
    "SELECT " + "(" * 600 + "1" + ")" * 600,
    "SELECT " + "[" * 100 + "1" + "]" * 100,
    "SELECT 1" + " " * 100_001,
]

CORPUS = STATEMENTS + FUNCTION_CALLS + CTE_SCOPING + PATHS + OBFUSCATED + EXPENSIVE

CLASSES = {
    "statements": STATEMENTS,
    "functions (plain, quoted, upper case, schema-prefixed, LATERAL, CTE, subquery)":
        FUNCTION_CALLS,
    "CTE scoping, catalog objects, bound objects": CTE_SCOPING,
    "paths, spill files, own Delta files": PATHS,
    "look-alikes and odd quoting": OBFUSCATED,
    "expensive to plan, nesting, length": EXPENSIVE,
}  # fmt: skip

#: Legitimate SQL that must keep working.
LEGITIMATE = [
    "SELECT * FROM fact_trade",
    "with t as (select * from fact_trade) select count(*) from t",
    "SELECT p.desk, sum(t.notional_base) FROM fact_trade t JOIN dim_portfolio p "
    "USING (portfolio_key) GROUP BY 1 ORDER BY 2 DESC",
    "SELECT 'read_csv(1)' AS text_is_fine, 'current_setting' AS also_fine, 1",
    "SELECT trade_id, row_number() OVER (PARTITION BY portfolio_code ORDER BY trade_ts) "
    "FROM fact_trade",
    "SELECT trade_id, lag(price) OVER w FROM fact_trade WINDOW w AS (ORDER BY trade_ts)",
    "SELECT * FROM fact_trade WHERE trade_id = ?",
    "(SELECT 1) UNION (SELECT 2)",
    "with recursive r(n) as (select 1 union all select n + 1 from r where n < 3) select * from r",
    "with a(x) as (select 1) select * from a",
    "with a as materialized (select 1 as x) select * from a",
    "with a as (select 1 as x), b as (select * from a) select * from b, "
    "(select * from a) s where b.x in (select x from a)",
    "PIVOT fact_trade ON side USING sum(quantity)",
    "SELECT * FROM (SELECT side, quantity FROM fact_trade) "
    "PIVOT (sum(quantity) FOR side IN ('BUY', 'SELL'))",
    "FROM fact_trade SELECT trade_id LIMIT 1",
    "FROM fact_trade",
    "SELECT d::date FROM range(date '2024-01-01', date '2024-02-01', interval 1 day) t(d)",
    "SELECT * FROM generate_series(1, 10) g(x)",
    "SELECT * FROM range(10000000) r(i) LIMIT 3",
    "SELECT unnest([1, 2, 3])",
    "SELECT * FROM unnest([1, 2]) u(x)",
    "SELECT abs(-1) AS a, round(2.5, 1) r, date_trunc('month', date '2024-03-04') m",
    "SELECT approx_count_distinct(trade_id), median(price), quantile_cont(price, 0.9), "
    "list(trade_id)[1] FROM fact_trade",
    "SELECT cast(1 AS decimal(38, 6)), try_cast('x' AS int), extract(year FROM date "
    "'2024-01-01'), columns('price|quantity') FROM fact_trade",
    "SELECT {'a': 1} s, [1, 2] l, list_transform([1, 2], x -> x + 1), struct_pack(a := 1), "
    "coalesce(NULL, 1), nullif(1, 1), greatest(1, 2)",
    "SELECT * EXCLUDE (price) FROM fact_trade",
    "SELECT * REPLACE (price * 2 AS price) FROM fact_trade",
    "SELECT count(*) FILTER (WHERE side = 'BUY') FROM fact_trade",
    "SELECT x FROM (VALUES (1), (2)) t(x) QUALIFY row_number() OVER () = 1",
    "SELECT strftime(trade_date, '%Y-%m'), repeat('-', 3), list_aggregate([1, 2], 'sum')",
    "SELECT t.* FROM fact_trade t, LATERAL (SELECT 1 AS one) l",
    "SELECT trade_id FROM fact_trade ASOF JOIN dim_portfolio p USING (portfolio_key)",
]
