"""Faults on the standalone cluster: task retries, a lost worker, a killed driver, simulator
errors and hangs. Each run is compared bit for bit with the in-process NumPy engine.
"""

import json
import re
import signal
import sys
from pathlib import Path

import pytest
from cluster_models import FAULT_SEED, SEED, SETTINGS, WIDE_SIGMA, fault_scenario

from abcspark import PMCABC, Posterior
from abcspark.examples import HeightModel, height_problem
from abcspark.rng import batch_rng

from .test_submit import assert_same

pytestmark = pytest.mark.cluster
JOBS = Path(__file__).parent / "jobs"
PRIOR, _, OBSERVED = height_problem()


def reference(seed=SEED, **options):
    pmc = PMCABC(PRIOR, **{"simulate": HeightModel(), **options}, **SETTINGS, engine="numpy")
    return pmc.run(OBSERVED, seed=seed)


@pytest.fixture(scope="module")
def faults(standalone, module_drivers):
    """Output folder of one application running the scenarios flaky, skip, raise and hang."""
    standalone.replace_dead_workers()
    output = module_drivers.folder / "faults"
    command = [sys.executable, JOBS / "faults_job.py", standalone.master_url, output]
    code, log = module_drivers.run("faults", [*command, "flaky", "skip", "raise", "hang"])
    assert code == 0, log[-3000:]
    return output


def test_failed_task_attempts_are_retried_to_the_same_posterior(faults):
    failed = sorted(p.name for p in (faults / "flaky" / "markers").iterdir())
    # Every job's first task failed once: at least one job per generation.
    assert len(failed) >= SETTINGS["generations"], failed
    got = Posterior.load(str(faults / "flaky" / "posterior"))
    assert_same(got, reference(FAULT_SEED))


def test_skip_drops_and_counts_simulator_failures(faults):
    got = Posterior.load(str(faults / "skip" / "posterior"))
    expected = reference(FAULT_SEED, **fault_scenario("skip", ""))
    assert_same(got, expected)
    assert got.metadata["n_failed"] == got.history["n_failed"].sum() > 0
    assert (got.samples["sigma"] <= WIDE_SIGMA).all()


def test_raise_names_generation_batch_and_parameters(faults):
    error = json.loads((faults / "raise" / "error.json").read_text())
    assert error["type"] == "SimulationError"
    found = re.fullmatch(
        r"the simulator raised ValueError: sigma=\S+ is too wide for this simulator in "
        r"generation 0, batch (\d+), at parameters \(mu=(\S+), sigma=(\S+)\); fix the .*",
        error["message"],
    )
    assert found, error["message"]
    batch, mu, sigma = int(found[1]), float(found[2]), float(found[3])
    proposals = PRIOR.sample(SETTINGS["batch_size"], batch_rng(FAULT_SEED, 0, batch))
    assert [mu, sigma] in proposals.tolist() and sigma > WIDE_SIGMA


def test_a_hanging_simulator_becomes_a_timeout_error(faults):
    error = json.loads((faults / "hang" / "error.json").read_text())
    assert error["type"] == "SimulationError"
    assert re.fullmatch(
        r"batch \d+ of generation 0 ran longer than batch_timeout=2.0 s; .*", error["message"]
    ), error["message"]


def submit_slow_job(cluster, drivers, name, output, *checkpoint):
    """Start jobs/pmc_job.py with 1 s per batch; return it once generation 0 has finished.

    With a checkpoint, finished means saved: the log line comes just before the save.
    """
    command = ["spark-submit", "--master", cluster.master_url, JOBS / "pmc_job.py", output]
    driver = drivers.start(name, [*command, "1.0", *checkpoint])
    saved = Path(checkpoint[0], "generation-0000.json") if checkpoint else None
    log = drivers.wait_for(driver, r"PMCABC generation 0:", saved)
    assert "PMCABC generation 1:" not in log  # still in generation 1
    return driver


def test_a_worker_killed_mid_generation_does_not_change_the_posterior(cluster, drivers, tmp_path):
    driver = submit_slow_job(cluster, drivers, "slow", tmp_path)
    killed = cluster.kill_worker(0)
    log = drivers.wait(driver)
    assert driver.returncode == 0, log[-3000:]
    assert len(killed) >= 2  # the worker and its executor (and the executor's Python)
    after_kill = log[log.index("PMCABC generation 0:") :]
    assert re.search(r"Lost executor \d+ on 127\.0\.0\.1", after_kill), log[-3000:]
    assert "PMCABC generation 2:" in after_kill
    assert_same(Posterior.load(str(tmp_path / "posterior")), reference())


def test_a_driver_killed_mid_run_resumes_from_its_checkpoint(cluster, drivers, tmp_path):
    checkpoint = tmp_path / "checkpoint"
    first = submit_slow_job(cluster, drivers, "killed", tmp_path, checkpoint)
    drivers.stop(first, signal.SIGKILL)  # the driver JVM and its Python, without warning
    saved = sorted(p.name for p in checkpoint.glob("generation-*.json"))
    assert saved == ["generation-0000.json"]
    command = ["spark-submit", "--master", cluster.master_url, JOBS / "pmc_job.py", tmp_path]
    code, log = drivers.run("resumed", [*command, "0", checkpoint])
    assert code == 0, log[-3000:]
    assert f"resuming from {checkpoint} after generation 0" in log
    assert_same(Posterior.load(str(tmp_path / "posterior")), reference())
