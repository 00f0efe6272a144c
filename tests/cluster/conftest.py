"""A real Spark standalone cluster for the tests in this folder, and drivers to run on it.

- ``standalone``: one master and two workers (1 core, 1g each) on 127.0.0.1 for the session,
  started and stopped by :class:`abcspark.standalone.LocalCluster` (by PID).
- ``cluster``: the same cluster for one test, with any worker a previous test killed
  replaced; when the test fails, a copy of the cluster's logs (master, workers, executors) is
  kept and named in the report, with the tails of the drivers' logs.
- ``bare_python``: the executors' Python: numpy, pandas, pyarrow and pyspark, but no
  abcspark, so every cluster test needs abcspark to be shipped to the executors.
- ``drivers``: starts driver processes (spark-submit, the pyspark shell, python scripts) in
  their own process groups and stops any left running, also when the test fails.

The pytest process holds a local SparkContext already, and a process can have only one, so
every cluster application runs its driver in a subprocess.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import List, Optional

import pytest

from abcspark.standalone import LocalCluster, spark_class

ROOT = Path(__file__).resolve().parents[2]
JOBS = Path(__file__).parent / "jobs"
sys.path.insert(0, str(JOBS))  # the jobs' own module (cluster_models), imported as they do
DRIVER_TIMEOUT = 600  # seconds; generous because the 2-core machine is shared
FAST_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
DEFAULTS = {
    # Small executors inside the 1g workers; no driver web UI (no port to find).
    "spark.executor.memory": "512m",
    "spark.ui.enabled": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.showConsoleProgress": "false",  # progress bars would garble the drivers' logs
    # Short-lived JVMs on 2 shared cores: C1-only JIT and the serial collector halve the CPU a
    # driver's start-up takes (measured 21.7 -> 11.4 s CPU, 36 -> 19 s wall).
    "spark.driver.extraJavaOptions": FAST_JVM,
    "spark.executor.extraJavaOptions": FAST_JVM,
}


def without_pythonpath() -> dict:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory) -> Path:
    """A virtual environment that sees this one's packages except abcspark."""
    root = tmp_path_factory.mktemp("bare-python")
    borrowed = root / "borrowed"
    borrowed.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        # .pth files (editable installs among them) are not followed from a borrowed folder.
        if "abcspark" not in entry.name.lower() and entry.suffix != ".pth":
            (borrowed / entry.name).symlink_to(entry)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "borrowed.pth").write_text(f"{borrowed}\n")
    env, cwd = without_pythonpath(), str(root)
    subprocess.run([str(python), "-c", "import numpy, pandas, pyarrow"], check=True, env=env)
    found = subprocess.run(
        [str(python), "-c", "import abcspark"], capture_output=True, env=env, cwd=cwd
    )
    assert found.returncode != 0, "the executors' Python must not have abcspark"
    return python


@pytest.fixture(scope="session")
def standalone(tmp_path_factory):
    """Master and two workers for the whole session (workers inherit no PYTHONPATH)."""
    logs = tmp_path_factory.mktemp("cluster-logs")
    environment = dict(without_pythonpath(), SPARK_DAEMON_JAVA_OPTS=FAST_JVM)
    with LocalCluster(2, 1, "1g", str(logs), environment=environment) as cluster:
        yield cluster


@pytest.fixture
def cluster(standalone):
    """The session's cluster with two live workers (logs kept if the test fails)."""
    standalone.replace_dead_workers()
    return standalone


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed or "standalone" not in item.fixturenames:
        return
    cluster = item.funcargs["standalone"]
    kept = cluster.log_dir.parent / "failed-cluster-logs" / item.name
    shutil.copytree(cluster.log_dir, kept, dirs_exist_ok=True)
    text = [f"cluster logs (master, workers, executors) kept in {kept}"]
    for log in sorted(kept.rglob("stderr")) + sorted(kept.glob("*.log")):
        text.append(f"--- {log.relative_to(kept)} (tail)\n{tail(log)}")
    driver_logs = [log for value in item.funcargs.values() for log in getattr(value, "logs", [])]
    for log in driver_logs:
        text.append(f"--- driver {log} (tail)\n{tail(log)}")
    report.sections.append(("cluster logs", "\n".join(text)))


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Drivers:
    """Driver processes of cluster applications, each logging to a file in ``folder``."""

    def __init__(self, folder: Path, python: Path):
        conf = folder / "conf"
        conf.mkdir()
        (conf / "spark-defaults.conf").write_text(
            "".join(f"{key} {value}\n" for key, value in DEFAULTS.items())
        )
        self.folder, self.logs = folder, []
        self.processes: List[subprocess.Popen] = []
        self.env = dict(
            without_pythonpath(),
            PYTHONPATH=str(ROOT),  # the driver runs this checkout; executors get it shipped
            PYSPARK_PYTHON=str(python),
            PYSPARK_DRIVER_PYTHON=sys.executable,
            SPARK_CONF_DIR=str(conf),
            SPARK_LOCAL_IP="127.0.0.1",
        )
        self.bin = spark_class().parent

    def start(self, name: str, args: list, stdin: Optional[str] = None, **env: str):
        """Start ``args`` (``spark-submit``/``pyspark`` are found in pyspark's bin)."""
        log = self.folder / f"{name}.log"
        self.logs.append(log)
        if args[0] in ("spark-submit", "pyspark"):
            args = [str(self.bin / args[0]), *args[1:]]
        source = self.folder / f"{name}.stdin"
        source.write_text(stdin or "")
        with open(log, "wb") as out, open(source, "rb") as into:
            process = subprocess.Popen(
                [str(a) for a in args],
                stdin=into,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(self.env, **env),
                cwd=self.folder,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def wait(self, process: subprocess.Popen, timeout: float = DRIVER_TIMEOUT) -> str:
        """Wait for ``process``; return its log (fail the test if it runs past ``timeout``)."""
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(process)
            pytest.fail(f"driver {process.args} ran past {timeout} s")
        return self.log(process)

    def run(self, name: str, args: list, stdin: Optional[str] = None, **env: str) -> tuple:
        """Run a driver to its end; return (exit code, log)."""
        process = self.start(name, args, stdin, **env)
        output = self.wait(process)
        return process.returncode, output

    def log(self, process: subprocess.Popen) -> str:
        return self.logs[self.processes.index(process)].read_text(errors="replace")

    def stop(self, process: subprocess.Popen, signum: int = signal.SIGTERM) -> None:
        """Signal the driver's process group (its JVM and Python); SIGKILL after 20 s."""
        if process.poll() is None:
            os.killpg(process.pid, signum)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the group's stragglers, if any
        except ProcessLookupError:
            pass
        process.wait()

    def wait_for(self, process: subprocess.Popen, pattern: str, path: Optional[Path] = None) -> str:
        """Wait until the driver's log matches ``pattern`` (and ``path`` exists, if given).

        Returns the log at that moment; fails the test if the driver exits first.
        """
        deadline = time.monotonic() + DRIVER_TIMEOUT
        while time.monotonic() < deadline:
            output = self.log(process)
            if re.search(pattern, output) and (path is None or path.exists()):
                return output
            if process.poll() is not None:
                pytest.fail(f"driver exited ({process.returncode}) before {pattern!r}, {path}")
            time.sleep(0.1)
        pytest.fail(f"driver did not log {pattern!r} (or write {path}) in {DRIVER_TIMEOUT} s")


def stopped_after(drivers: Drivers):
    yield drivers
    for process in drivers.processes:
        drivers.stop(process)


@pytest.fixture
def drivers(tmp_path, bare_python):
    """Drivers of one test."""
    yield from stopped_after(Drivers(tmp_path, bare_python))


@pytest.fixture(scope="module")
def module_drivers(tmp_path_factory, bare_python):
    """Drivers of one test module, for an application whose results several tests check."""
    yield from stopped_after(Drivers(tmp_path_factory.mktemp("drivers"), bare_python))
