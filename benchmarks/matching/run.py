"""Every matching benchmark, in order: FEBRL quality next to Splink, batch dedupe time and memory next
to Splink, search latency on SQLite and PostgreSQL. Sizes from the environment:
MATCHING_BENCH_DEDUPE (default "100000"; e.g. "100000 1000000"), MATCHING_BENCH_LEARNING (persons,
default "5000 20000") and MATCHING_BENCH_SEARCH (default 1000000). Figures are printed, never asserted."""

from __future__ import annotations

import os

from benchmarks.matching import febrl, learning, scale, search

print("-- FEBRL 3 / FEBRL 4 --", flush=True)
febrl.main()
print("-- learning from the input (shipped parameters pinned vs the default) --", flush=True)
learning.main([int(x) for x in os.environ.get("MATCHING_BENCH_LEARNING", "5000 20000").split()])
print("-- batch dedupe --", flush=True)
scale.main([int(x) for x in os.environ.get("MATCHING_BENCH_DEDUPE", "100000").split()], ["duckdb", "splink"])
print("-- real-time search --", flush=True)
search.main(int(os.environ.get("MATCHING_BENCH_SEARCH", "1000000")))
