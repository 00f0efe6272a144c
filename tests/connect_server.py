"""A Spark Connect server for the test session, and a client beside the classic session.

The server is pip pyspark's own ``SparkConnectServer`` (``local[2]``, every port on 127.0.0.1),
started by ``spark-submit`` as a process group of its own and stopped by that group's id. One
server serves every Connect test module (``tests/conftest.py`` registers ``connect_url``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVER = "org.apache.spark.sql.connect.service.SparkConnectServer"
START_TIMEOUT = 180  # seconds; a loaded 2-core machine takes 15-30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_command(port: int) -> list:
    settings = {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "2",
    }
    import pyspark

    command = [str(Path(pyspark.__file__).parent / "bin" / "spark-submit"), "--class", SERVER]
    command += ["--name", "abcspark-connect-tests", "--master", "local[2]"]
    for key, value in settings.items():
        command += ["--conf", f"{key}={value}"]
    return command


def _wait_for(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the Connect server exited ({process.returncode}):\n{log.read_text()}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    pytest.fail(f"the Connect server did not listen within {START_TIMEOUT} s:\n{log.read_text()}")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (its JVM and Python workers), SIGKILL after 20 s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def connect_url(tmp_path_factory, request):
    """``sc://127.0.0.1:<port>`` of a Connect server that lives for the test session."""
    folder = tmp_path_factory.mktemp("connect-server")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_GATEWAY", "_PYSPARK"))}
    env.pop("SPARK_CONNECT_MODE_ENABLED", None)
    env.update(SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    log = folder / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            _server_command(port),
            cwd=folder,  # its spark-warehouse and metastore land here
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # spark-submit execs java: this pid leads the group
        )
    try:
        request.getfixturevalue("spark")  # the classic session starts while the server boots
        _wait_for(port, process, log)
        yield f"sc://127.0.0.1:{port}"
    finally:
        _stop(process)


def _client(url: str):
    """A new Connect session beside the classic ``spark`` fixture, which stays the active one.

    ``builder.remote(url).getOrCreate()`` refuses while a SparkContext runs; ``create()`` does
    not, but marks the whole process as Connect mode (``SPARK_CONNECT_MODE_ENABLED``), which
    would send classic calls (``SparkSession.getActiveSession``, ``pyspark.sql.functions``) to
    Connect: the variable is put back as it was.
    """
    from pyspark.sql import SparkSession

    before = os.environ.get("SPARK_CONNECT_MODE_ENABLED")
    session = SparkSession.builder.remote(url).create()
    if before is None:
        os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)
    return session


@pytest.fixture(scope="module")
def remote(connect_url, spark):
    session = _client(connect_url)
    yield session
    session.stop()  # no longer anybody's active session
