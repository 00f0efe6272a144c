"""The just-in-time compiler of the JVM abcspark launches: its quick client compiler only.

Java's default JIT first runs hot code through C1 with profiling, then recompiles the hottest
through C2, which pays off in long JVM-bound work. The embedded session's JVM mostly plans small
queries and moves Arrow batches while Python simulates, and a fresh one spends its first seconds
in profiled code. Stopping at C1 (``-XX:TieredStopAtLevel=1``) made a fresh process's PMC of 300
particles about 2 s faster here (``benchmarks/startup.py``), with the same throughput of
simulations at 1e7; JVM-bound work was slower (a reference table's write 1.2x, a Parquet
write 1.8x, a 3e8-row aggregation 2.6x).
It applies only to a JVM abcspark launches itself (an embedded session), never to spark-submit's,
a notebook's or a cluster's, and it changes no result. ``ABCSPARK_JVM_JIT=full`` keeps Java's
default, as does a session started with your own ``spark.driver.extraJavaOptions`` naming
``-XX:TieredStopAtLevel``, which comes after this option and wins.
"""

from __future__ import annotations

import os

SWITCH = "ABCSPARK_JVM_JIT"
QUICK = "-XX:TieredStopAtLevel=1"


def jit_options() -> str:
    """The JIT options of a JVM abcspark launches: :data:`QUICK`, or none if ``$SWITCH`` is full."""
    if os.environ.get(SWITCH, "").strip().lower() == "full":
        return ""
    return QUICK
