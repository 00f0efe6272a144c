"""``python -m abcspark.standalone``: start a local cluster and keep it until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import time
from typing import Optional, Sequence

from abcspark import standalone
from abcspark.standalone.cluster import LocalCluster


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m abcspark.standalone", description=standalone.__doc__.splitlines()[0]
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--cores", type=int, default=1, help="cores per worker (default 1)")
    parser.add_argument("--memory", default="1g", help="memory per worker (default 1g)")
    parser.add_argument("--log-dir", default=None, help="folder for logs (default: a temp one)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Start a local cluster from the command line, print how to use it, stop it on Ctrl-C.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (``--workers``, ``--cores``, ``--memory``, ``--log-dir``); default
        ``sys.argv[1:]``.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    # SIGTERM (e.g. from a process manager) stops the cluster as Ctrl-C does. SIGINT is set
    # explicitly too: Python keeps an inherited SIG_IGN (nohup, background jobs, some CI
    # runners), and Ctrl-C would then not stop the cluster.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.default_int_handler)
    try:
        cluster = LocalCluster(args.workers, args.cores, args.memory, args.log_dir)
        cluster.start()
    except (ValueError, OSError, RuntimeError) as exc:
        parser.exit(1, f"{exc}\n")
    except KeyboardInterrupt:
        return
    try:
        print(
            f"Spark master {cluster.master_url} with {args.workers} workers "
            f"(web UI {cluster.web_ui_url}, logs in {cluster.log_dir})\n"
            f"  spark-submit --master {cluster.master_url} job.py\n"
            f"  pyspark --master {cluster.master_url}\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        while cluster.master is not None and cluster.master.poll() is None:
            time.sleep(1.0)
        print(f"the master exited; see {cluster.log_dir}/master.log", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
