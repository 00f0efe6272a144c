"""The README's main job, `python -m abcspark`, run as a user runs it."""

import os
import re
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

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
    assert "--ui" in done.stdout


def run_main(*args, env=None, timeout=300):
    """``python -m abcspark`` with a small run, as a user runs it; (result, seconds)."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "abcspark", "--particles", "50", "--generations", "1", *args],
        env={k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done, time.monotonic() - started


def _blocker(tmp_path):
    """A regular file: a folder under it cannot be made, even by root."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return blocker


WRONG_ARGUMENTS = {
    "output-under-a-file": (["--output", "{blocker}/results"], {}, "--output must be a folder"),
    "checkpoint-under-a-file": (["--checkpoint", "{blocker}/run"], {}, "--checkpoint must be"),
    "uri-without-bucket": (["--output", "s3://"], {}, "--output must be a local folder or a URI"),
    "colon-in-a-name": (["--output", "run:1"], {}, "--output must be a local folder or a URI"),
    "master-nonsense": (["--master", "nonsense://x"], {}, "--master must be a Spark master URL"),
    "master-no-threads": (["--master", "local[0]"], {}, "--master must be a Spark master URL"),
    "no-particles": (["--particles", "0"], {}, r"--particles must be a positive int \(got 0\)"),
    "generations": (["--generations", "-2"], {}, r"--generations must be a positive int"),
    "parallelism": (["--parallelism", "0"], {}, r"--parallelism must be a positive int"),
    "seed": (["--seed", "-1"], {}, r"--seed must be a non-negative int \(got -1\)"),
    "not-a-number": (["--particles", "many"], {}, "argument --particles: invalid int value"),
    "ui-switch": ([], {"ABCSPARK_UI": "maybe"}, r"ABCSPARK_UI must be 1 or 0 \(got 'maybe'\)"),
}


@pytest.mark.parametrize(
    ("args", "env", "message"), list(WRONG_ARGUMENTS.values()), ids=list(WRONG_ARGUMENTS)
)
def test_a_wrong_argument_stops_the_job_before_spark_starts(tmp_path, args, env, message):
    args = [a.format(blocker=_blocker(tmp_path)) for a in args]
    output = [] if "--output" in args else ["--output", str(tmp_path / "results")]
    done, _ = run_main(*args, *output, env=env)
    assert done.returncode == 2, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-3000:]  # so no JVM log and no traceback either
    assert lines[0].startswith("python -m abcspark: error: ")
    assert re.search(message, lines[0]), lines[0]
    assert done.stdout == ""


def test_an_unwritable_output_is_found_in_seconds_not_after_the_run(tmp_path):
    done, _ = run_main("--output", str(_blocker(tmp_path) / "results"))
    assert done.returncode == 2
    assert done.stderr == (
        f"python -m abcspark: error: --output must be a folder this job can write (got "
        f"'{_blocker(tmp_path)}/results': Not a directory); choose another --output, e.g. "
        "--output results.\n"
    )


def test_a_uri_output_spark_cannot_write_stops_before_the_first_generation(tmp_path):
    done, _ = run_main("--output", "nosuchfs://bucket/run", "--master", "local[1]")
    assert done.returncode == 1, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "python -m abcspark: error: --output must be a local folder or a URI this Spark can "
        "write (got 'nosuchfs://bucket/run': "
    ), last
    assert 'No FileSystem for scheme "nosuchfs"' in last
    assert "Traceback" not in done.stderr
    assert "generation 0" not in done.stderr and done.stdout == ""


def test_spark_failing_to_start_is_one_line_not_a_traceback(tmp_path):
    # A well-formed master that Spark refuses: 512 MiB workers cannot hold a 1 GiB executor.
    done, _ = run_main("--master", "local-cluster[1,1,512]", "--output", str(tmp_path))
    assert done.returncode == 1, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "python -m abcspark: error: Spark must start on local-cluster[1,1,512] (got "
    ), last
    assert "check --master" in last
    assert "Traceback" not in done.stderr


def test_no_java_is_one_line(tmp_path):
    done, _ = run_main("--output", str(tmp_path), env={"JAVA_HOME": str(tmp_path / "no-java")})
    assert done.returncode == 1
    assert done.stderr.startswith("python -m abcspark: error: Spark needs Java 17 or 21")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
