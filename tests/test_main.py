"""The README's main job, `python -m abcspark`, run as a user runs it."""

import os
import struct
import subprocess
import sys

import numpy as np

from abcspark import PMCABC, Posterior
from abcspark.examples import height_problem


def png_size(path):
    with open(path, "rb") as handle:
        head = handle.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


def test_main_job_prints_the_posterior_and_writes_the_plot(tmp_path):
    # As a user runs it: no PYSPARK_PYTHON, so the job must point Spark's workers at its Python.
    env = {k: v for k, v in os.environ.items() if k != "PYSPARK_PYTHON"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "abcspark",
            "--particles",
            "200",
            "--generations",
            "3",
            "--seed",
            "4",
            "--output",
            str(tmp_path),
            "--master",
            "local[2]",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Posterior: 200 particles" in done.stdout
    assert "generation" in done.stdout and "acceptance_rate" in done.stdout
    width, height = png_size(tmp_path / "posterior.png")
    assert width > 500 and height > 500
    saved = Posterior.load(str(tmp_path / "posterior"))
    prior, simulate, observed = height_problem()
    expected = PMCABC(prior, simulate, n_particles=200, generations=3, engine="numpy").run(
        observed, seed=4
    )
    np.testing.assert_array_equal(saved.samples.to_numpy(), expected.samples.to_numpy())
    np.testing.assert_array_equal(saved.weights, expected.weights)


def test_main_job_help():
    done = subprocess.run(
        [sys.executable, "-m", "abcspark", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "--particles" in done.stdout and "--master" in done.stdout
