"""User code of the cluster jobs: simulators and the settings every job and reference shares.

This module sits beside the job scripts, as a user's own module would. Executors cannot import
it (it is neither installed nor shipped), so it reaches them only because abcspark's
SparkEngine pickles such modules by value.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from abcspark.examples import HeightModel, summaries

SETTINGS = dict(n_particles=200, generations=3, batch_size=100, progress=False)
SEED = 7
FAULT_SEED = 5
"""The driver's dry run of this seed draws no sigma above WIDE_SIGMA: faults hit executors."""
WIDE_SIGMA = 24.0
"""The failing and hanging simulators fail for sigma above this (4% of the prior)."""


def task_context():
    """Spark's TaskContext on an executor, None on the driver (e.g. in the dry run)."""
    from pyspark import TaskContext

    return TaskContext.get()


class FlakyHeights(HeightModel):
    """Fails the first attempt of every job's first task; Spark's retry then succeeds."""

    def __init__(self, markers: str):
        super().__init__()
        self.markers = markers

    def __call__(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        context = task_context()
        if context is not None and context.partitionId() == 0 and context.attemptNumber() == 0:
            Path(self.markers, f"stage-{context.stageId()}-attempt-0-failed").touch()
            raise OSError("injected fault in the first attempt of this task")
        return super().__call__(theta, rng)


class SlowHeights(HeightModel):
    """Sleeps ``seconds`` per batch on executors, so that a test can act mid-generation."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def __call__(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if task_context() is not None:
            time.sleep(self.seconds)
        return super().__call__(theta, rng)


def fails_for_wide_sigma(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-parameter heights ``(67,)``; raises for sigma > WIDE_SIGMA, on every attempt."""
    if theta[1] > WIDE_SIGMA:
        raise ValueError(f"sigma={theta[1]} is too wide for this simulator")
    return rng.normal(theta[0], theta[1], size=67)


def summary_distance(heights: np.ndarray, observed: np.ndarray) -> float:
    """Euclidean distance between the summaries of ``heights`` and the observed ones."""
    return float(np.linalg.norm(summaries(heights) - observed))


class HangsForWideSigma(HeightModel):
    """Never returns for a batch with sigma > WIDE_SIGMA (an hour is never, for a test)."""

    def __call__(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if (theta[:, 1] > WIDE_SIGMA).any():
            time.sleep(3600)
        return super().__call__(theta, rng)


def fault_scenario(name: str, markers: str) -> dict:
    """PMCABC options of a fault scenario (besides the prior and SETTINGS)."""
    per_parameter = dict(simulate=fails_for_wide_sigma, distance=summary_distance, vectorized=False)
    return {
        "flaky": dict(simulate=FlakyHeights(markers)),
        "skip": dict(per_parameter, on_error="skip"),
        "raise": dict(per_parameter, on_error="raise"),
        "hang": dict(simulate=HangsForWideSigma(), batch_timeout=2.0),
    }[name]


TABLE_SIZE = 2400
TABLE_SETTINGS = {"seed": 13, "batch_size": 50, "batches_per_block": 6, "blocks_per_job": 2}
TABLE_OBSERVATIONS = {"id": [1, 2, 3], "stat_0": [0.4, -1.0, 2.2], "stat_1": [1.1, 0.8, 1.3]}


class HeldTable:
    """Mean and sd of 10 Normal(mu, sigma) draws; with ``hold``, the first batch that runs once
    two blocks of the table at ``hold`` are complete leaves ``<hold>.held`` and waits there to
    be killed, so the kill lands inside a write job, after two blocks committed."""

    def __init__(self, hold: str = ""):
        self.hold = hold

    def __call__(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        markers = Path(self.hold, "_blocks")
        if self.hold and markers.is_dir() and len(list(markers.glob("block-*"))) >= 2:
            Path(f"{self.hold}.held").touch()
            time.sleep(60)
            raise RuntimeError("HeldTable: not killed within 60 s of holding")
        draws = theta[:, :1] + theta[:, 1:] * rng.standard_normal((len(theta), 10))
        return np.column_stack([draws.mean(axis=1), draws.std(axis=1, ddof=1)])
