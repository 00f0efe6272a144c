"""Checkpoints: resume after a kill between or during generations, refuse other problems,
one run at a time (a lock that a dead owner's successor takes over)."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import assert_same_posterior

from abcspark import PMCABC, GenerationRecord, Posterior
from abcspark.checkpoint import Checkpoint
from abcspark.examples import height_problem
from abcspark.storage import LocalStorage

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
        (dict(n_particles=300), r"settings \(n_particles\)"),
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


PROBLEM = {"algorithm": "PMCABC", "seed": 5}
RECORD = GenerationRecord(0, 1.0, 10, 10, 1.0, 10.0, 0, 0, 0.1)


def lock_owner(folder):
    return json.loads((Path(folder) / "lock.json").read_text())


def test_a_second_run_on_a_folder_in_use_is_refused_until_the_first_ends(tmp_path):
    first = Checkpoint(str(tmp_path), PROBLEM)
    first.open()
    owner = lock_owner(tmp_path)
    assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
    second = Checkpoint(str(tmp_path), PROBLEM)
    with pytest.raises(
        ValueError,
        match=rf"checkpoint {tmp_path} must be written by one run at a time \(got it locked by "
        rf"pid {os.getpid()} on host {socket.gethostname()}, started .* \(this process\)\); "
        rf"wait for that run to end, or, if it is no longer running, delete {tmp_path}/lock.json",
    ):
        second.open()
    assert lock_owner(tmp_path) == owner  # the refused run leaves the lock as it was
    first.close()
    first.close()  # twice is harmless
    assert not (tmp_path / "lock.json").exists()
    second.open()
    assert lock_owner(tmp_path)["token"] != owner["token"]
    second.close()
    assert os.listdir(tmp_path) == ["run.json"]


def test_two_runs_starting_together_cannot_both_write(tmp_path, monkeypatch):
    # Both look for run.json before either writes it: without a lock, both would go on, and
    # one run's run.json would end up over the other's generations.
    both_looked = threading.Barrier(2, timeout=1.0)
    exists = LocalStorage.exists

    def together(store, name):
        if name == "run.json":
            try:
                both_looked.wait()
            except threading.BrokenBarrierError:
                pass  # the other run was refused before it looked
        return exists(store, name)

    monkeypatch.setattr(LocalStorage, "exists", together)
    opened, refused = [], []

    def start(seed):
        checkpoint = Checkpoint(str(tmp_path), {**PROBLEM, "seed": seed})
        try:
            checkpoint.open()
            opened.append((seed, checkpoint))
        except ValueError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=start, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(opened) == 1 and len(refused) == 1, refused
    assert "must be written by one run at a time" in refused[0]
    seed, checkpoint = opened[0]
    assert json.loads((tmp_path / "run.json").read_text())["seed"] == seed
    checkpoint.close()


HOLDER = """
import sys
from abcspark.checkpoint import Checkpoint
checkpoint = Checkpoint(sys.argv[1], {"algorithm": "PMCABC", "seed": 5})
checkpoint.open()
print("open", flush=True)
sys.stdin.read()
"""


def test_a_live_owner_elsewhere_is_refused_and_a_killed_one_taken_over(tmp_path, caplog):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1]))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert holder.stdout.readline() == b"open\n"
        with pytest.raises(ValueError, match=rf"locked by pid {holder.pid} on host "):
            Checkpoint(str(tmp_path), PROBLEM).open()
    finally:
        holder.kill()  # SIGKILL: no chance to remove its lock
        holder.wait(timeout=30)
        holder.stdin.close()
        holder.stdout.close()
    assert lock_owner(tmp_path)["pid"] == holder.pid
    with caplog.at_level(logging.WARNING, logger="abcspark"):
        checkpoint = Checkpoint(str(tmp_path), PROBLEM)
        checkpoint.open()
    assert f"pid {holder.pid} on host {socket.gethostname()}, started " in caplog.text
    assert "has ended; lock taken over" in caplog.text
    assert lock_owner(tmp_path)["pid"] == os.getpid()
    checkpoint.close()
    assert os.listdir(tmp_path) == ["run.json"]


@pytest.mark.parametrize(
    "lock, match",
    [
        (
            {"host": "elsewhere", "pid": 1, "token": "x", "started": "2024-01-01T00:00:00+00:00"},
            r"locked by pid 1 on host elsewhere, started 2024-01-01T00:00:00\+00:00\)",
        ),
        ("{not json", r"locked by an unreadable lock.json\)"),
    ],
)
def test_a_lock_that_cannot_be_checked_from_here_is_refused(tmp_path, lock, match):
    (tmp_path / "lock.json").write_text(lock if isinstance(lock, str) else json.dumps(lock))
    with pytest.raises(ValueError, match=match):
        pmc(generations=1).run(OBSERVED, seed=5, checkpoint=str(tmp_path))
    assert not (tmp_path / "run.json").exists()  # refused before touching the folder
    (tmp_path / "lock.json").unlink()  # as the message says, once that run is known gone
    pmc(generations=1).run(OBSERVED, seed=5, checkpoint=str(tmp_path))


def test_a_run_whose_lock_was_taken_over_stops_before_writing(tmp_path):
    checkpoint = Checkpoint(str(tmp_path), PROBLEM)
    checkpoint.open()
    particles = pd.DataFrame({"mu": [1.0], "weight": [1.0], "distance": [0.0]})
    checkpoint.save(0, particles, RECORD)
    other = {"host": "elsewhere", "pid": 1, "token": "other", "started": "now"}
    (tmp_path / "lock.json").write_text(json.dumps(other))  # its owner was wrongly declared dead
    with pytest.raises(
        ValueError,
        match=r"must stay locked by this run while it saves \(got pid 1 on host elsewhere, "
        r"started now holding it\); another run took the folder over",
    ):
        checkpoint.save(1, particles, RECORD)
    assert checkpoint.generations() == [0]
    checkpoint.close()
    assert lock_owner(tmp_path) == other  # not ours to remove


def test_saving_needs_an_open_checkpoint(tmp_path):
    checkpoint = Checkpoint(str(tmp_path), PROBLEM)
    with pytest.raises(ValueError, match=r"must be opened before saving \(got save\(\) before"):
        checkpoint.save(0, pd.DataFrame({"mu": [1.0]}), RECORD)


def test_opening_removes_what_killed_writes_left(tmp_path):
    pmc(generations=2).run(OBSERVED, seed=5, checkpoint=str(tmp_path))
    leftovers = [
        f".generation-0001.json.{'a' * 32}.tmp",
        f".lock.json.{'b' * 32}.gone",
        f".run.json.{'c' * 32}.old",  # a copy set aside (through Hadoop) with run.json in place
    ]
    for name in leftovers:
        (tmp_path / name).write_text("left")
    pmc(generations=2).run(OBSERVED, seed=5, checkpoint=str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["run.json"] + [f"generation-000{g}.{e}" for g in (0, 1) for e in ("json", "parquet")]
    )


def test_a_failed_run_releases_its_lock_at_once(tmp_path):
    pmc(generations=2).run(OBSERVED, seed=5, checkpoint=str(tmp_path))
    (tmp_path / "generation-0001.parquet").write_text("damaged")
    with pytest.raises(ValueError, match="must hold a readable generation-0001") as failed:
        pmc(generations=2).run(OBSERVED, seed=5, checkpoint=str(tmp_path))
    # The traceback is still held (as Jupyter holds the last one), and with it the checkpoint.
    assert failed.traceback and not (tmp_path / "lock.json").exists()


def test_a_record_saved_before_n_after_last_reads_with_it_zero():
    """A checkpoint written before 2026-12-03 has no ``n_after_last``: it reads as 0, and a
    record missing any other field is refused with the fields named."""
    saved = RECORD.to_dict()
    del saved["n_after_last"]
    assert GenerationRecord.from_dict(saved) == RECORD
    del saved["ess"]
    with pytest.raises(ValueError, match=r"missing \['ess'\].*another version of abcspark"):
        GenerationRecord.from_dict(saved)
