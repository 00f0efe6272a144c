"""Which session a run uses, and the one-line explanation when Java is missing."""

import ipaddress
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyspark
import pytest
from pyspark.sql import SparkSession

from abcspark import PMCABC, get_spark
from abcspark._version import release
from abcspark.examples import height_problem
from abcspark.session import _embedded, check_master, java_executable, ui_choice
from abcspark.warm_up import (
    DAEMON_SETTING,
    SOCKET_FOLDER,
    SOCKET_SETTING,
    warm_up,
    worker_settings,
)


def test_missing_java_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java-here"))
    assert java_executable() is None
    with pytest.raises(
        OSError,
        match=r"Spark needs Java 17 or 21, and none was found on "
        r"JAVA_HOME=.*no-java-here; install one .* or set JAVA_HOME",
    ):
        _embedded(SparkSession, None)


def test_no_java_on_path(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(OSError, match="none was found on PATH"):
        _embedded(SparkSession, None)


def test_active_session_is_used_and_arrow_is_on(spark):
    assert get_spark() is spark
    assert spark.conf.get("spark.sql.execution.arrow.pyspark.enabled") == "true"


def test_runs_use_the_active_session_by_default(spark):
    prior, simulate, observed = height_problem()
    pmc = PMCABC(prior, simulate, n_particles=100, generations=1, batch_size=100)
    posterior = pmc.run(observed, seed=1)
    assert posterior.metadata["engine"] == "spark"
    assert posterior.metadata["parallelism"] == spark.sparkContext.defaultParallelism


def test_warm_up_runs_one_python_task_per_core_in_the_background(spark):
    tracker = spark.sparkContext.statusTracker()
    before = set(tracker.getJobIdsForGroup())
    thread = warm_up(spark)
    assert thread.daemon
    thread.join(timeout=120)
    (job_id,) = set(tracker.getJobIdsForGroup()) - before
    job = tracker.getJobInfo(job_id)
    assert job.status == "SUCCEEDED"
    (stage_id,) = job.stageIds
    assert tracker.getStageInfo(stage_id).numTasks == spark.sparkContext.defaultParallelism


# The embedded session's listeners, read from outside its process. The test suite's own session
# is shared (and SPARK_LOCAL_IP is set for it), so each case starts a fresh Python without it.
HOLD_SESSION = """
import json, os, sys
from abcspark.session import get_spark
spark = get_spark(**json.loads(sys.argv[1]))
spark.range(4).mapInPandas(lambda frames: frames, "id long").count()  # starts Python workers
name = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getName()
print(json.dumps({"pid": int(name.split("@")[0]), "ui": spark.sparkContext.uiWebUrl,
                  "env": os.environ.get("SPARK_LOCAL_IP")}), flush=True)
sys.stdin.readline()  # hold the session while the test reads its sockets
spark.stop()
try:
    get_spark(ui=True)
except ValueError as exc:
    print(exc, flush=True)
"""


def _address(hex_address):
    """An address of /proc/net/tcp{,6}: 32-bit words in the host's byte order."""
    raw = bytes.fromhex(hex_address)
    words = [raw[i : i + 4] for i in range(0, len(raw), 4)]
    if sys.byteorder == "little":
        words = [word[::-1] for word in words]
    return ipaddress.ip_address(b"".join(words))


def _listening(pid):
    """(address, port) of every TCP socket listening in ``pid`` and its descendants."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    pids, inodes = [pid], set()
    while pids:
        current = pids.pop()
        pids.extend(children.get(current, []))
        for fd in Path(f"/proc/{current}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                host, port = fields[1].split(":")
                found.append((_address(host), int(port, 16)))
    return found


def _is_loopback(address):
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _hold_embedded_session(env, **kwargs):
    """Start get_spark(**kwargs) in a new Python; return its report and listening sockets."""
    env = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", HOLD_SESSION, json.dumps(kwargs)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
        )
        try:
            line = process.stdout.readline()
            if not line:
                process.wait(timeout=60)
                log.seek(0)
                pytest.fail(f"the session did not start:\n{log.read()[-3000:]}")
            report = json.loads(line)
            sockets = _listening(report["pid"])
            process.stdin.write("\n")
            process.stdin.flush()
            after, _ = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return report, sockets, after


@pytest.mark.slow
def test_embedded_session_listens_on_loopback_only_and_has_no_ui():
    report, sockets, after = _hold_embedded_session({"SPARK_LOCAL_IP": None, "ABCSPARK_UI": None})
    assert sockets, "found no listening socket of the driver: the check would see nothing"
    exposed = [f"{address}:{port}" for address, port in sockets if not _is_loopback(address)]
    assert not exposed, f"the embedded session listens beyond 127.0.0.1: {exposed}"
    assert report["ui"] is None
    assert report["env"] is None
    # The JVM outlives the stopped session: asking it for a UI now cannot bind that to 127.0.0.1.
    assert "ui must be" in after and "SPARK_LOCAL_IP=127.0.0.1" in after


@pytest.mark.slow
def test_asked_for_ui_listens_on_loopback_only():
    report, sockets, _ = _hold_embedded_session({"SPARK_LOCAL_IP": None, "ABCSPARK_UI": "1"})
    exposed = [f"{address}:{port}" for address, port in sockets if not _is_loopback(address)]
    assert not exposed, f"the embedded session listens beyond 127.0.0.1: {exposed}"
    ui_port = int(report["ui"].rsplit(":", 1)[1])
    assert ui_port in {port for _, port in sockets}
    assert report["env"] is None, "SPARK_LOCAL_IP must be set for the JVM only, not left behind"


@pytest.mark.parametrize(("value", "asked"), [("1", True), ("ON", True), ("0", False), ("", None)])
def test_abcspark_ui_asks_for_the_ui(monkeypatch, value, asked):
    monkeypatch.setenv("ABCSPARK_UI", value)
    assert ui_choice(None) is asked
    assert ui_choice(False) is False and ui_choice(True) is True


def test_abcspark_ui_must_be_a_switch(monkeypatch):
    monkeypatch.setenv("ABCSPARK_UI", "maybe")
    with pytest.raises(ValueError, match=r"ABCSPARK_UI must be 1 or 0 \(got 'maybe'\); "):
        ui_choice(None)


def test_ui_must_be_a_bool():
    with pytest.raises(TypeError, match=r"ui must be True, False or None \(got 'yes'"):
        get_spark(ui="yes")


def test_active_session_is_not_touched_when_ui_is_asked(spark):
    assert get_spark(ui=True) is spark
    assert spark.sparkContext.uiWebUrl is None


@pytest.mark.parametrize(
    "master",
    [
        "local",
        "local[1]",
        "local[*]",
        "local[2,3]",
        "local[*, 4]",
        "local-cluster[2, 1, 1024]",
        "spark://127.0.0.1:7077",
        "spark://a:7077,b:7077",
        "yarn",
        "k8s://https://127.0.0.1:6443",
    ],
)
def test_master_forms_accepted(master):
    assert check_master(master) == master


@pytest.mark.parametrize(
    "master",
    [
        "nonsense://x",
        "local[0]",
        "local[]",
        "locals",
        "spark://",
        "spark://host",
        "yarn-client",
        "",
    ],
)
def test_master_forms_refused(master):
    with pytest.raises(ValueError, match=r"master must be a Spark master URL .* \(got '.*'\); "):
        check_master(master)


def test_get_spark_checks_the_master_before_starting_spark():
    with pytest.raises(ValueError, match=r"master must be a Spark master URL .*'nonsense://x'"):
        get_spark(master="nonsense://x")


def test_ui_with_a_cluster_master_from_spark_defaults_leaves_the_driver_address_alone():
    # SPARK_LOCAL_IP, given to a JVM for its UI, would make a cluster driver advertise 127.0.0.1.
    script = (
        "from pyspark import SparkContext\n"
        "from abcspark.session import _configured_master\n"
        "print(_configured_master(loopback_ui=True))\n"
        "print(SparkContext._jvm.java.lang.System.getenv('SPARK_LOCAL_IP'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "SPARK_LOCAL_IP"}
    env["PYSPARK_SUBMIT_ARGS"] = "--master spark://127.0.0.1:7077 pyspark-shell"
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["spark://127.0.0.1:7077", "None"]


# A run on a fresh embedded session, whose Python workers come from abcspark's daemon and, from
# Spark 4.1, talk to the JVM over Unix domain sockets.
UNIX_SOCKETS = release(pyspark.__version__) >= (4, 1)
EMBEDDED_RUN = """
import json, sys
from abcspark import PMCABC, get_spark
from abcspark.examples import height_problem

def origin(rows):
    import pyspark
    yield pyspark.__file__

def sql_origin(frames):
    import pandas, pyspark
    for _ in frames:
        yield pandas.DataFrame({"file": [pyspark.__file__]})

spark = get_spark(master="local[2]")
rdd_worker = spark.sparkContext.parallelize([0], 1).mapPartitions(origin).collect()[0]
sql_worker = spark.range(0, 1, 1, 1).mapInPandas(sql_origin, "file string").collect()[0][0]
prior, simulate, observed = height_problem()
posterior = PMCABC(prior, simulate, n_particles=100, generations=3).run(observed, seed=5)
print(json.dumps({
    "daemon": spark.conf.get("spark.python.daemon.module", None),
    "sockets": spark.conf.get("spark.python.unix.domain.socket.enabled", None),
    "rdd_worker": rdd_worker, "sql_worker": sql_worker,
    "particles": posterior.samples.to_numpy().tolist(), "weights": posterior.weights.tolist(),
}))
spark.stop()
"""


def _embedded_run(submit_args=None):
    env = dict(os.environ)
    if submit_args:
        env["PYSPARK_SUBMIT_ARGS"] = f"{submit_args} pyspark-shell"
    done = subprocess.run(
        [sys.executable, "-c", EMBEDDED_RUN], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _run_here():
    prior, simulate, observed = height_problem()
    return PMCABC(prior, simulate, n_particles=100, generations=3).run(observed, seed=5)


@pytest.mark.slow
def test_embedded_workers_import_the_installed_pyspark_and_give_the_same_posterior(spark):
    report = _embedded_run()
    assert report["daemon"] == "abcspark.worker_daemon"
    assert report["sockets"] == ("true" if UNIX_SOCKETS else None)
    for worker in (report["rdd_worker"], report["sql_worker"]):
        assert ".zip" not in worker and Path(worker).parent == Path(pyspark.__file__).parent
    here = _run_here()  # the test session's workers import Spark's zipped pyspark
    assert np.array_equal(np.array(report["particles"]), here.samples.to_numpy())
    assert np.array_equal(np.array(report["weights"]), here.weights)


@pytest.mark.slow
def test_configured_worker_settings_are_left_as_they_are():
    report = _embedded_run(
        "--conf spark.python.daemon.module=pyspark.daemon "
        "--conf spark.python.unix.domain.socket.enabled=false"
    )
    assert (report["daemon"], report["sockets"]) == ("pyspark.daemon", "false")
    assert "pyspark.zip" in report["rdd_worker"]


def test_worker_settings_give_the_daemon_only_for_this_python(monkeypatch):
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    settings = worker_settings()
    assert settings[DAEMON_SETTING] == "abcspark.worker_daemon"
    if UNIX_SOCKETS:
        assert settings[SOCKET_SETTING] == "true"
        assert os.stat(settings[SOCKET_FOLDER]).st_mode & 0o777 == 0o700
    else:
        assert SOCKET_SETTING not in settings
    monkeypatch.setenv("PYSPARK_PYTHON", "/opt/other/bin/python3")
    assert DAEMON_SETTING not in worker_settings()
