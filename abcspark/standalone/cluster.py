"""A Spark standalone master and N workers on 127.0.0.1, started and stopped by PID.

The master and each worker are separate JVMs started with ``spark-class`` on free ports (web
UIs included); :class:`LocalCluster` waits until every worker is registered, and can kill and
replace workers, as when a machine dies.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Callable, List, Mapping, NamedTuple, Optional, Set

from abcspark.session import java_executable
from abcspark.standalone.processes import HOST, descendants, free_ports, send_signal, spark_class
from abcspark.validation import positive_int

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
# The master's REST submission server listens on a fixed port (6066) by default; a local
# cluster needs none, and a fixed port would collide with a second cluster.
MASTER_OPTIONS = "-Dspark.master.rest.enabled=false"


class _Worker(NamedTuple):
    process: subprocess.Popen
    port: int
    name: str


class LocalCluster:
    """A Spark standalone master and workers on 127.0.0.1, as a context manager.

    Parameters
    ----------
    workers : int, default 2
        Worker processes.
    cores : int, default 1
        Cores each worker offers (one executor per worker and application by default).
    memory : str, default '1g'
        Memory each worker offers to executors, e.g. ``'512m'``, ``'2g'``; ask for less per
        executor with ``spark.executor.memory``.
    log_dir : str, optional
        Folder for ``master.log``, ``worker-<i>.log`` and each worker's work directory
        ``worker-<i>/`` (executor logs: ``worker-<i>/<app id>/<executor id>/stderr``);
        default a new temporary folder, kept after :meth:`stop`.
    environment : mapping, optional
        Environment of the master and workers, and so of executors and their Python workers;
        default this process's.
    timeout : float, default 120
        Seconds to wait for the master to answer and the workers to register.

    Attributes
    ----------
    master_url : str
        ``spark://127.0.0.1:<port>``: pass it to ``spark-submit --master`` or
        ``get_spark(master=...)``.
    web_ui_url : str
        The master's web UI; ``<web_ui_url>/json/`` lists workers and applications.

    Examples
    --------
    >>> import subprocess
    >>> from abcspark.standalone import LocalCluster
    >>> with LocalCluster(workers=2) as cluster:  # doctest: +SKIP
    ...     subprocess.run(["spark-submit", "--master", cluster.master_url, "job.py"])
    """

    def __init__(
        self,
        workers: int = 2,
        cores: int = 1,
        memory: str = "1g",
        log_dir: Optional[str] = None,
        environment: Optional[Mapping[str, str]] = None,
        timeout: float = 120.0,
    ):
        self.n_workers = positive_int("workers", workers, "2")
        self.cores = positive_int("cores", cores, "2")
        if not isinstance(memory, str) or not re.fullmatch(r"\d+[mMgG]", memory):
            raise ValueError(
                f"memory must be a size such as '512m' or '1g' (got {memory!r}); "
                "give megabytes or gigabytes with m or g."
            )
        self.memory, self.timeout = memory, float(timeout)
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="abcspark-cluster-"))
        self.environment = dict(os.environ if environment is None else environment)
        master_options = f"{self.environment.get('SPARK_MASTER_OPTS', '')} {MASTER_OPTIONS}"
        self.environment.update(SPARK_LOCAL_IP=HOST, SPARK_MASTER_OPTS=master_options.strip())
        self.master: Optional[subprocess.Popen] = None
        self._workers: List[_Worker] = []
        self._killed: Set[int] = set()
        self._started = 0
        self._ports: Set[int] = set()  # handed out: a JVM may not have bound them yet
        self.master_url = self.web_ui_url = ""

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def workers(self) -> List[subprocess.Popen]:
        """The worker JVMs (:meth:`replace_dead_workers` puts new ones in dead ones' places)."""
        return [worker.process for worker in self._workers]

    def start(self) -> None:
        """Start the master, then the workers; return when all workers are registered.

        Raises
        ------
        OSError
            If Java or ``spark-class`` cannot be found.
        RuntimeError
            If a process exits, or does not come up within ``timeout``; the message ends with
            the tail of its log.
        """
        if java_executable() is None:
            raise OSError(
                "a local Spark cluster needs Java 17 or 21 (got none on JAVA_HOME or PATH); "
                "install one, e.g. apt-get install openjdk-17-jre-headless."
            )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        port, ui_port = free_ports(2, self._ports)
        self._ports.update((port, ui_port))
        self.master_url, self.web_ui_url = f"spark://{HOST}:{port}", f"http://{HOST}:{ui_port}"
        master_args = ["--host", HOST, "--port", str(port), "--webui-port", str(ui_port)]
        try:
            self.master = self._launch("master", [MASTER_CLASS, *master_args])
            # Workers that register before the master is elected leader wait 5-15 s to retry.
            self._wait(self._master_alive, "the master to become ALIVE", "master")
            self._workers = [self._start_worker() for _ in range(self.n_workers)]
            self.wait_for_workers()
        except BaseException:
            self.stop()
            raise

    def wait_for_workers(self) -> None:
        """Return when every running worker is ALIVE in the master's ``/json/`` listing."""
        running = [w for w in self._workers if w.process.poll() is None]
        for worker in running:
            self._wait(
                lambda port=worker.port: port in self.alive_ports(),
                f"{worker.name} to register with the master",
                worker.name,
            )

    def kill_worker(self, index: int) -> List[int]:
        """SIGKILL worker ``index``, its executors and their Python workers, as when a machine dies.

        Returns
        -------
        list of int
            The PIDs killed, the worker's first.
        """
        worker = self._workers[index].process
        pids = [worker.pid, *descendants(worker.pid)]
        self._killed.add(worker.pid)
        send_signal(pids, signal.SIGKILL)
        worker.wait()
        return pids

    def replace_dead_workers(self) -> None:
        """Start a new worker in the place of each one that has exited, and wait for them."""
        self._workers = [
            self._start_worker() if w.process.poll() is not None else w for w in self._workers
        ]
        self.wait_for_workers()

    def alive_ports(self) -> Set[int]:
        """Ports of the workers the master lists as ALIVE."""
        status = self.status() or {}
        return {w["port"] for w in status.get("workers", []) if w.get("state") == "ALIVE"}

    def status(self) -> Optional[dict]:
        """The master's ``/json/`` document (workers, apps), or None if it does not answer."""
        if not self.web_ui_url:
            return None
        try:
            with urllib.request.urlopen(f"{self.web_ui_url}/json/", timeout=5) as response:
                return json.loads(response.read())
        except (OSError, ValueError):
            return None

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the workers, then the master: SIGTERM, and SIGKILL after ``timeout`` seconds.

        Executors and their Python workers that outlive their worker are killed too.
        """
        workers = [w for w in self.workers if w.poll() is None]
        below = [pid for worker in workers for pid in descendants(worker.pid)]
        for group in (workers, [self.master] if self.master is not None else []):
            running = [process for process in group if process.poll() is None]
            for process in running:
                process.terminate()
            deadline = time.monotonic() + timeout
            for process in running:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        send_signal(below, signal.SIGKILL)

    def _start_worker(self) -> _Worker:
        name = f"worker-{self._started}"
        self._started += 1
        port, ui_port = free_ports(2, self._ports)
        self._ports.update((port, ui_port))
        args = [WORKER_CLASS, "--host", HOST, "--port", str(port), "--webui-port", str(ui_port)]
        args += ["--cores", str(self.cores), "--memory", self.memory]
        args += ["--work-dir", str(self.log_dir / name), self.master_url]
        return _Worker(self._launch(name, args), port, name)

    def _launch(self, name: str, args: List[str]) -> subprocess.Popen:
        with open(self.log_dir / f"{name}.log", "ab") as log:
            return subprocess.Popen(
                [str(spark_class()), *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment,
                # Own process group: a Ctrl-C meant for the caller does not kill the daemons
                # half-way; stop() ends them in order.
                start_new_session=True,
            )

    def _master_alive(self) -> bool:
        return (self.status() or {}).get("status") == "ALIVE"

    def _wait(self, ready: Callable[[], bool], what: str, log: str) -> None:
        """Poll ``ready`` until it holds; fail early if a process exits, late on timeout."""
        deadline = time.monotonic() + self.timeout
        while not ready():
            named = [("master", self.master)] + [
                (w.name, w.process) for w in self._workers if w.process.pid not in self._killed
            ]
            exited = [(name, p) for name, p in named if p is not None and p.poll() is not None]
            if exited:
                name, process = exited[0]
                raise RuntimeError(
                    f"{name} must keep running while waiting for {what} (got exit code "
                    f"{process.returncode}); its log ends:\n{self._tail(name)}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{what} must happen within {self.timeout:g} s (it did not); logs are in "
                    f"{self.log_dir}; {log}.log ends:\n{self._tail(log)}"
                )
            time.sleep(0.2)

    def _tail(self, name: str, lines: int = 20) -> str:
        path = self.log_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])
