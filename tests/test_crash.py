"""Crash consistency: SIGKILL anywhere in Posterior.save or a checkpointed run loses nothing.

Each trial kills a victim (``jobs/crash_job.py`` forks it) before its k-th file-system call, for
every k, or after a random delay. What it leaves must load whole, or be refused with a clear
error, and the same call again must end bit for bit as if nothing had happened.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import assert_same_posterior

from abcspark import Posterior

JOB = Path(__file__).parent / "jobs" / "crash_job.py"
_spec = importlib.util.spec_from_file_location("crash_job", JOB)
crash_job = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(crash_job)  # the victims' own posteriors and run, to compare with

pytestmark = pytest.mark.slow
KILLED = -signal.SIGKILL


class Victims:
    """The fork server of ``crash_job.py``: one call per command, killed as asked."""

    def __init__(self, log: Path):
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")]
        )
        self.log = open(log, "w")
        self.server = subprocess.Popen(
            [sys.executable, str(JOB)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
        )

    def run(self, **command) -> dict:
        self.server.stdin.write(json.dumps(command) + "\n")
        self.server.stdin.flush()
        answer = self.server.stdout.readline()
        assert answer, f"the crash server died; see {self.log.name}"
        return json.loads(answer)

    def close(self) -> None:
        self.server.stdin.close()
        self.server.wait(timeout=30)
        self.log.close()


@pytest.fixture(scope="module")
def victims(tmp_path_factory):
    server = Victims(tmp_path_factory.mktemp("crash") / "victims.log")
    yield server
    server.close()


def calibrate(victims, folder, **command):
    """File-system calls and seconds of the call run to its end."""
    count = folder.parent / f"{folder.name}.count"
    done = victims.run(folder=str(folder), count=str(count), **command)
    assert done["exit"] == 0
    return int(count.read_text()), done["seconds"]


def kills(calls, seconds, seed, steps, timed):
    """``steps`` kills before file-system calls (all if there are as few), ``timed`` at random."""
    rng = np.random.default_rng(seed)
    before = np.arange(calls + 1)  # calls + 1: none, the call runs to its end
    if steps < len(before):
        before = np.sort(rng.choice(before, steps, replace=False))
    return [{"kill_before": int(k)} for k in before] + [
        {"kill_after": float(t)} for t in rng.uniform(0, seconds, timed)
    ]


def same(a: Posterior, b: Posterior) -> bool:
    try:
        pd.testing.assert_frame_equal(a.to_frame(), b.to_frame(), check_exact=True)
        pd.testing.assert_frame_equal(a.history, b.history, check_exact=True)
    except AssertionError:
        return False
    return a.metadata == b.metadata


def test_a_save_killed_anywhere_leaves_one_whole_posterior(victims, tmp_path):
    old, new = crash_job.make_posterior("old"), crash_job.make_posterior("new")
    old.save(str(tmp_path / "calibration"))
    calls, seconds = calibrate(victims, tmp_path / "calibration", call="save", overwrite=True)
    every = kills(calls, seconds, seed=1, steps=calls + 1, timed=0)
    timed = kills(calls, seconds, seed=2, steps=0, timed=30)
    # Over an old posterior (overwrite=True) and into an empty folder.
    trials = [(over, kill) for over in (True, False) for kill in every]
    trials += [(i % 2 == 0, kill) for i, kill in enumerate(timed)]
    outcomes = set()
    for i, (over, kill) in enumerate(trials):
        folder = str(tmp_path / f"trial-{i}")
        if over:
            old.save(folder)
        done = victims.run(call="save", folder=folder, overwrite=over, **kill)
        assert done["exit"] in (0, KILLED), done
        try:
            left = Posterior.load(folder)
        except ValueError as exc:  # killed before any posterior was whole
            assert not over and "path must hold a saved posterior" in str(exc), (kill, exc)
            outcomes.add("refused")
        else:
            assert same(left, new) or (over and same(left, old)), kill
            outcomes.add("new" if same(left, new) else "old")
        try:
            new.save(folder, overwrite=over)
        except ValueError as exc:
            assert not over and same(left, new), (kill, exc)
            assert "must not hold a saved posterior already" in str(exc)
        assert same(Posterior.load(folder), new), kill
        named = json.loads(Path(folder, "metadata.json").read_text())["particles"]
        assert sorted(os.listdir(folder)) == ["metadata.json", named], kill
    assert outcomes == {"old", "new", "refused"}  # the kills landed before, in and after


def test_a_checkpointed_run_killed_anywhere_resumes_to_the_same_posterior(victims, tmp_path):
    expected = crash_job.pmc().run(crash_job.OBSERVED, seed=crash_job.SEED)
    calls, seconds = calibrate(victims, tmp_path / "calibration", call="run")
    trials = kills(calls, seconds, seed=3, steps=20, timed=15)
    rng = np.random.default_rng(4)
    for i, kill in enumerate(trials):
        folder = tmp_path / f"trial-{i}"
        again = trials[rng.integers(len(trials))] if i % 3 == 0 else None  # killed twice
        for each in filter(None, [kill, again]):
            done = victims.run(call="run", folder=str(folder), **each)
            assert done["exit"] in (0, KILLED), done
        resumed = crash_job.pmc().run(
            crash_job.OBSERVED, seed=crash_job.SEED, checkpoint=str(folder)
        )
        assert_same_posterior(resumed, expected)
        columns = ["epsilon", "n_proposals", "n_simulations", "n_discarded", "ess"]
        pd.testing.assert_frame_equal(resumed.history[columns], expected.history[columns])
        left = sorted(os.listdir(folder))
        generations = [f"generation-000{g}.{ext}" for g in range(4) for ext in ("json", "parquet")]
        assert left == sorted(["run.json", *generations]), (kill, left)
