"""The embedded session's Python worker daemon: pyspark's own, imported compiled.

Spark starts the Python workers of a local session from a daemon, ``python -m pyspark.daemon``,
with ``$SPARK_HOME/python/lib/pyspark.zip`` first on their path. Where pyspark came from pip,
that zip holds the same sources as the installed package, but Python keeps no bytecode for a
zip, so the daemon and each worker compile pyspark again at every start: measured here, 0.7 s
of a fresh session's first Python job (``benchmarks/startup.py``). An embedded session runs
this module as its daemon instead (``spark.python.daemon.module``, see
:func:`abcspark.warm_up.worker_settings`): it takes that zip off the path, so the installed,
compiled pyspark of the same release is imported, then runs pyspark's daemon. On the way,
``python -m`` imports abcspark (numpy, pandas and pyarrow), which the workers it forks then
have already. The code the workers run is the same, so no result changes. Nothing imports
this module: it is the daemon process's entry point.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    """Run pyspark's worker daemon with Spark's zipped copy of pyspark off the path."""
    home = os.environ.get("SPARK_HOME")
    if home:
        zipped = Path(home, "python", "lib", "pyspark.zip")
        sys.path[:] = [entry for entry in sys.path if Path(entry) != zipped]
    from pyspark import daemon

    daemon.manager()


if __name__ == "__main__":
    main()
