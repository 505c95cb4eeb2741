"""FinBench data: the deterministic generator (``generate``). The harness that times queries
on every path lives outside the package, in ``benchmarks/`` of a source checkout; ``harness``
finds it for ``ledgerhouse bench``."""
