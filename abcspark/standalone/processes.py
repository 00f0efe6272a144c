"""Processes and ports on this machine, for :class:`~abcspark.standalone.LocalCluster`.

``spark-class`` starts Spark's JVMs; :func:`free_port` finds ports for them on 127.0.0.1;
:func:`descendants` and :func:`send_signal` find and stop what a JVM leaves below it
(executors and their Python workers).
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import List, Sequence

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def spark_class() -> Path:
    """``bin/spark-class`` of ``$SPARK_HOME``, else of the installed pyspark."""
    home = os.environ.get("SPARK_HOME")
    if not home:
        import pyspark

        home = str(Path(pyspark.__file__).parent)
    script = Path(home, "bin", "spark-class")
    if not script.exists():
        raise OSError(
            f"spark-class must exist under SPARK_HOME (got no {script}); pip install pyspark, "
            "or point SPARK_HOME at a Spark distribution."
        )
    return script


def descendants(pid: int) -> List[int]:
    """PIDs of all processes below ``pid`` (children, grandchildren, ...), from ``ps``."""
    table = subprocess.run(
        ["ps", "-A", "-o", "pid=,ppid="], capture_output=True, text=True, check=True
    ).stdout
    children: dict = {}
    for line in table.splitlines():
        child, parent = (int(field) for field in line.split())
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found.extend(below)
        todo.extend(below)
    return found


def send_signal(pids: Sequence[int], signum: int) -> None:
    """Send ``signum`` to each of ``pids``, skipping those that have already exited."""
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
