"""Baton beside a peer that users would pick instead: DBOS Transact, durable workflows
checkpointed in PostgreSQL, running the same workflows on the same machine and PostgreSQL.

``python -m bench.peers`` (or ``scripts/bench-peers.sh``, which installs the ``peers``
dependency group and starts the local stack) runs both in turns at 1, 8 and 64 workflows
in flight and prints a side-by-side table: workflows/s and the ratio Baton/DBOS, CPU per
workflow of the machine and of the benchmark's process, p50/p95 latency, PostgreSQL
commits per workflow and, for Baton, Kafka records written and read per workflow.
"""

from bench.peers.results import PeerResult, from_baton, median_result, ratio
from bench.peers.table import comparisons, render_table

__all__ = ["PeerResult", "comparisons", "from_baton", "median_result", "ratio", "render_table"]
