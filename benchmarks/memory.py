"""Issues #4 and #5: driver memory of PMC's weights and of many PMC generations.

- Weights at ``n_particles = 10,000``: the kernel's mixture density at 10,000 new particles,
  with one covariance (``gaussian``) and one per particle (``olcm``), in a fresh process
  without Spark; its peak resident set must stay under 1 GiB.
- 30 PMC generations on embedded ``local[2]`` against 3: the broadcast of each generation is
  released, so the peak resident set of the Python driver and of the driver JVM must stay flat.
  A fixed epsilon schedule keeps every generation's work alike.
"""

from __future__ import annotations

import os
from typing import List

import numpy as np
from harness import Row, Target, peak_kib, peak_memory, run_case, spark_session, timed


def weights_case(n_particles: int) -> dict:
    """The case (fresh process): PMC weights of ``n_particles`` particles for both kernels."""
    from abcspark.examples import height_problem
    from abcspark.kernels import importance_weights, make_kernel

    prior, _, _ = height_problem()
    rng = np.random.default_rng(1)
    particles = prior.sample(n_particles, rng)
    weights = rng.dirichlet(np.ones(n_particles))
    distances = rng.uniform(0, 10, n_particles)
    before = peak_kib() / 1024
    result = {"before_mib": before}
    for method in ("gaussian", "olcm"):
        kernel = make_kernel(method, particles, weights, distances, 5.0)
        theta = kernel.sample(n_particles, rng)
        seconds, _ = timed(lambda k=kernel, t=theta: importance_weights(t, prior.log_pdf(t), k))
        result[f"{method}_seconds"] = seconds
    return {**result, "python_mib": peak_kib() / 1024}


def generations_case(generations: int) -> dict:
    """The case (fresh process): PMCABC for ``generations`` generations on local[2]."""
    from abcspark import PMCABC
    from abcspark.examples import NormalMean

    model = NormalMean()
    spark = spark_session("local[2]")
    epsilons = [np.inf] + [0.5] * (generations - 1)
    pmc = PMCABC(
        model.prior, model, n_particles=1000, epsilons=epsilons, spark=spark, progress=False
    )
    seconds, posterior = timed(pmc.run, [0.3], seed=1)
    result = {"seconds": seconds, "generations": len(posterior.history), **peak_memory()}
    spark.stop()
    return {**result, "load": os.getloadavg()[0]}


def section(quick: bool) -> tuple:
    n_particles = 10_000
    few, many = (3, 10) if quick else (3, 30)
    weights = run_case("memory.weights_case", {"n_particles": n_particles})
    runs = {g: run_case("memory.generations_case", {"generations": g}) for g in (few, many)}
    rows: List[Row] = [
        Row(
            "memory",
            f"PMC weights, {n_particles:,} particles",
            "driver Python peak RSS",
            weights["python_mib"],
            "MiB",
            f"{weights['before_mib']:.0f} MiB before",
        ),
        Row(
            "memory",
            f"PMC weights, {n_particles:,} particles, gaussian",
            "time",
            weights["gaussian_seconds"],
            "s",
        ),
        Row(
            "memory",
            f"PMC weights, {n_particles:,} particles, olcm",
            "time",
            weights["olcm_seconds"],
            "s",
        ),
    ]
    for g, r in runs.items():
        case = f"PMC {g} generations, 1000 particles, local[2]"
        rows.append(Row("memory", case, "wall time", r["seconds"], "s"))
        rows.append(Row("memory", case, "driver Python peak RSS", r["python_mib"], "MiB"))
        rows.append(Row("memory", case, "driver JVM peak RSS", r["jvm_mib"], "MiB"))
    targets = [
        Target(
            f"#4: weights at {n_particles:,} particles, driver peak RSS (MiB)",
            weights["python_mib"],
            1024,
            higher_is_better=False,
        ),
    ]
    for side in ("python", "jvm"):
        ratio = runs[many][f"{side}_mib"] / runs[few][f"{side}_mib"]
        name = f"#5: driver {side} peak RSS, {many} / {few} PMC generations"
        targets.append(Target(name, ratio, 1.10, higher_is_better=False))
    return rows, targets
