"""Processes and ports on this machine, for :class:`~abcspark.standalone.LocalCluster`.

``spark-class`` starts Spark's JVMs; :func:`free_ports` finds ports for them on 127.0.0.1;
:func:`descendants` and :func:`send_signal` find and stop what a JVM leaves below it
(executors and their Python workers).
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import Collection, List, Sequence

HOST = "127.0.0.1"


def free_ports(n: int = 2, taken: Collection[int] = ()) -> List[int]:
    """``n`` distinct TCP ports on 127.0.0.1 that are free now and not in ``taken``.

    Every probe stays bound until all are picked: a port probed and closed one at a time can
    be handed out again at once, and a master given the same port for its RPC and its web UI
    moves the UI to the next port, where nobody looks for it (seen in CI). ``taken`` are ports
    handed out before to JVMs that may not have bound them yet.
    """
    probes: List[socket.socket] = []
    ports: List[int] = []
    try:
        while len(ports) < n:
            probes.append(socket.socket())
            probes[-1].bind((HOST, 0))
            port = probes[-1].getsockname()[1]
            if port not in taken:
                ports.append(port)
        return ports
    finally:
        for probe in probes:
            probe.close()


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
