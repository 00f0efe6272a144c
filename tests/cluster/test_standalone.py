"""LocalCluster and ``python -m abcspark.standalone``: master and workers on 127.0.0.1, by PID."""

import json
import os
import re
import shlex
import signal
import sys
import urllib.request

import pytest

from abcspark.standalone import LocalCluster, descendants
from abcspark.standalone.processes import free_ports

pytestmark = pytest.mark.cluster


def test_master_and_two_workers_registered_on_loopback(cluster):
    status = cluster.status()
    alive = [w for w in status["workers"] if w["state"] == "ALIVE"]
    assert status["status"] == "ALIVE" and status["url"] == cluster.master_url
    assert cluster.master_url.startswith("spark://127.0.0.1:")
    assert len(alive) == 2
    assert [(w["host"], w["cores"], w["memory"]) for w in alive] == [("127.0.0.1", 1, 1024)] * 2
    assert {w["port"] for w in alive} == cluster.alive_ports()
    assert all(worker.poll() is None for worker in cluster.workers)


def test_free_ports_are_distinct_and_skip_the_ones_handed_out():
    # CI once gave a master the same port for its RPC and its web UI: probed one at a time,
    # a port can come back at once. Held together they cannot; taken ones are skipped.
    taken = free_ports(20)
    again = free_ports(20, set(taken))
    assert len(set(taken)) == 20 and len(set(again)) == 20
    assert not set(taken) & set(again)


def test_command_line_cluster_starts_and_stops_on_ctrl_c(drivers, tmp_path):
    logs = tmp_path / "cli-logs"
    command = [sys.executable, "-m", "abcspark.standalone", "--workers", "1", "--log-dir", logs]
    cli = drivers.start("cli", command)
    output = drivers.wait_for(cli, "Press Ctrl-C to stop")
    url, ui = re.search(r"Spark master (\S+) with 1 workers \(web UI (\S+),", output).groups()
    assert f"spark-submit --master {url} job.py" in output
    daemons = descendants(cli.pid)
    with urllib.request.urlopen(f"{ui}/json/", timeout=30) as response:
        workers = json.loads(response.read())["workers"]
    assert [w["state"] for w in workers] == ["ALIVE"]
    assert len(daemons) >= 2  # the master's and the worker's JVMs
    assert sorted(p.name for p in logs.glob("*.log")) == ["master.log", "worker-0.log"]
    cli.send_signal(signal.SIGINT)
    assert cli.wait(timeout=120) == 0
    assert [pid for pid in daemons if running(pid)] == []


def test_command_line_cluster_stops_on_ctrl_c_when_started_ignoring_it(drivers, tmp_path):
    # As from nohup, a background job or some CI runners: SIGINT is SIG_IGN on entry, and
    # exec keeps it so; the CLI must install its own handler for Ctrl-C to stop it.
    command = [sys.executable, "-m", "abcspark.standalone", "--workers", "1"]
    command += ["--log-dir", str(tmp_path / "cli-logs")]
    cli = drivers.start("cli", ["sh", "-c", f"trap '' INT; exec {shlex.join(command)}"])
    drivers.wait_for(cli, "Press Ctrl-C to stop")
    daemons = descendants(cli.pid)
    assert len(daemons) >= 2  # the master's and the worker's JVMs
    cli.send_signal(signal.SIGINT)
    assert cli.wait(timeout=120) == 0
    assert [pid for pid in daemons if running(pid)] == []


def running(pid):
    """Whether ``pid`` runs (a zombie waiting to be reaped counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_master_that_cannot_start_is_reported_with_its_log(tmp_path):
    broken = dict(os.environ, JAVA_HOME=str(tmp_path / "no-java"))
    cluster = LocalCluster(1, log_dir=str(tmp_path / "logs"), environment=broken)
    with pytest.raises(RuntimeError, match=r"master must keep running .*\(got exit code \d+\)"):
        cluster.start()  # as soon as it exits: a timeout would say "must happen within"
    assert cluster.master.poll() is not None and cluster.workers == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(workers=0), r"workers must be a positive int \(got 0\)"),
        (dict(cores=True), r"cores must be a positive int \(got True\)"),
        (dict(memory="lots"), r"memory must be a size such as '512m' or '1g' \(got 'lots'\)"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LocalCluster(**kwargs)


def test_missing_spark_class_names_spark_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARK_HOME", str(tmp_path))
    with pytest.raises(OSError, match=r"spark-class must exist under SPARK_HOME \(got no "):
        LocalCluster(1, log_dir=str(tmp_path / "logs")).start()
