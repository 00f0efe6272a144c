"""Checkpoints: resume after a kill between or during generations, refuse other problems."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import assert_same_posterior

from abcspark import PMCABC, Posterior
from abcspark.examples import height_problem

JOB = Path(__file__).parent / "jobs" / "resume_job.py"
PRIOR, MODEL, OBSERVED = height_problem()


def pmc(**options):
    settings = dict(n_particles=200, generations=4, batch_size=100, engine="numpy")
    settings.update(options)
    return PMCABC(PRIOR, MODEL, **settings)


def test_resume_recomputes_only_missing_generations(tmp_path):
    full = pmc().run(OBSERVED, seed=5, checkpoint=str(tmp_path))
    assert sorted(p.name for p in tmp_path.glob("generation-*.json")) == [
        f"generation-000{g}.json" for g in range(4)
    ]
    for name in ("generation-0003.json", "generation-0002.json"):
        (tmp_path / name).unlink()  # as if the driver died before they were complete
    resumed = pmc().run(OBSERVED, seed=5, checkpoint=str(tmp_path))
    assert_same_posterior(resumed, full)
    assert resumed.history["generation"].tolist() == [0, 1, 2, 3]


def test_finished_checkpoint_returns_without_simulating(tmp_path, monkeypatch):
    full = pmc().run(OBSERVED, seed=5, checkpoint=str(tmp_path))

    def never(*args, **kwargs):
        raise AssertionError("a finished run must not simulate again")

    monkeypatch.setattr("abcspark.algorithms.sequential.sample_until", never)
    assert_same_posterior(pmc().run(OBSERVED, seed=5, checkpoint=str(tmp_path)), full)


@pytest.mark.parametrize(
    "change, differs",
    [
        (dict(seed=6), "seed"),
        (dict(n_particles=300), "settings"),
        (dict(observed=[170.0, 20.0]), "observed"),
    ],
)
def test_other_problem_is_refused(tmp_path, change, differs):
    pmc(generations=1).run(OBSERVED, seed=5, checkpoint=str(tmp_path))
    seed = change.pop("seed", 5)
    observed = change.pop("observed", OBSERVED)
    with pytest.raises(
        ValueError, match=f"must hold this same problem to resume .*differs in {differs}"
    ):
        pmc(generations=1, **change).run(observed, seed=seed, checkpoint=str(tmp_path))


def run_job(checkpoint, output, engine, interrupt, **popen):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1]))
    return subprocess.Popen(
        [sys.executable, str(JOB), str(checkpoint), str(output), engine, interrupt],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        **popen,
    )


def test_killed_between_generations_resumes_identically(tmp_path):
    first = run_job(tmp_path / "ckpt", tmp_path / "out", "numpy", "between")
    first.wait(timeout=120)
    assert first.returncode == -signal.SIGKILL
    assert (tmp_path / "ckpt" / "generation-0001.json").exists()
    assert not (tmp_path / "ckpt" / "generation-0002.json").exists()
    second = run_job(tmp_path / "ckpt", tmp_path / "out", "numpy", "none")
    output = second.communicate(timeout=120)[0].decode()
    assert second.returncode == 0, output
    expected = pmc().run(OBSERVED, seed=17)
    assert_same_posterior(Posterior.load(str(tmp_path / "out" / "posterior")), expected)


def test_killed_during_a_spark_generation_resumes_identically(tmp_path):
    first = run_job(tmp_path / "ckpt", tmp_path / "out", "spark", "during", start_new_session=True)
    marker = tmp_path / "out" / "generation-2-started"
    deadline = time.monotonic() + 180
    while not marker.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists(), first.communicate()[0].decode()[-3000:]
    # The job holds generation 2 open from the marker on, so the kill lands during it.
    os.killpg(first.pid, signal.SIGKILL)  # the driver and its JVM and Python workers
    first.wait(timeout=30)
    assert not (tmp_path / "ckpt" / "generation-0002.json").exists()
    second = run_job(tmp_path / "ckpt", tmp_path / "out", "spark", "none")
    output = second.communicate(timeout=240)[0].decode()
    assert second.returncode == 0, output[-3000:]
    expected = pmc().run(OBSERVED, seed=17)
    assert_same_posterior(Posterior.load(str(tmp_path / "out" / "posterior")), expected)


def test_generations_without_run_json_are_refused(tmp_path):
    pmc(generations=2).run(OBSERVED, seed=5, checkpoint=str(tmp_path))
    (tmp_path / "run.json").unlink()
    with pytest.raises(ValueError, match="must hold its run.json to resume"):
        pmc().run(OBSERVED, seed=5, checkpoint=str(tmp_path))


def test_a_missing_middle_generation_is_refused(tmp_path):
    pmc(generations=3).run(OBSERVED, seed=5, checkpoint=str(tmp_path))
    (tmp_path / "generation-0001.json").unlink()
    with pytest.raises(ValueError, match=r"must hold generations 0 to 2 to resume \(got \[1\]"):
        pmc(generations=3).run(OBSERVED, seed=5, checkpoint=str(tmp_path))


def test_an_old_format_checkpoint_is_refused_with_its_version(tmp_path):
    pmc(generations=1).run(OBSERVED, seed=5, checkpoint=str(tmp_path))
    run = json.loads((tmp_path / "run.json").read_text())
    del run["format"]
    (tmp_path / "run.json").write_text(json.dumps(run))
    with pytest.raises(ValueError, match=r"format 2 \(got no format version \(abcspark 0.1\)\)"):
        pmc().run(OBSERVED, seed=5, checkpoint=str(tmp_path))


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("generation-0000.json", "{not json", "must be a JSON document written by abcspark"),
        ("generation-0000.json", '{"generation": 0}', "must have the fields"),
        ("generation-0001.parquet", "not parquet", "must hold a readable generation-0001"),
        ("run.json", "[1, 2]", "must be a JSON object written by abcspark"),
    ],
)
def test_damaged_checkpoint_files_get_a_clear_error(tmp_path, name, content, match):
    pmc(generations=2).run(OBSERVED, seed=5, checkpoint=str(tmp_path))
    (tmp_path / name).write_text(content)
    with pytest.raises(ValueError, match=match):
        pmc(generations=2).run(OBSERVED, seed=5, checkpoint=str(tmp_path))
