"""The FinBench harness: measures Ledgerhouse against raw DuckDB, Polars and pandas.

Not part of the installed package (the data generator is: ``ledgerhouse.finbench.generate``).
``ledgerhouse bench`` and ``make bench`` load it from this folder of a source checkout; see
docs/benchmarks.md.

- ``bench``: the run (generate, ingest in a subprocess, serve, time every query on every path,
  check the answers agree)
- ``queries``, ``analytics_queries``: each FinBench query, written once per path
- ``ingest_bench``: the ingestion measurement (bulk rows/s, amendment merges), run as a script
- ``report``: results.json, results.md and ratios.png
"""
