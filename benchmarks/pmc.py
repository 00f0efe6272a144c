"""Issue #9.2 and #4: PMC time-to-posterior on ABCpy's height example, abcspark vs pyABC vs ABCpy.

abcspark runs first (embedded ``local[2]``, epsilon = the median of the last distances); its
epsilon schedule is then given to pyABC (multicore sampler, 2 processes) and to ABCpy (Spark
backend with parallelism 2, and the dummy backend), so that all four reach the same final
epsilon with the same population size, generations, summaries (mean, sd) and Euclidean
distance. Runs alternate between the tools, each in a fresh process; every figure is the
median over the repetitions. abcspark's time is given with and without the SparkSession start.
``fewer_section`` is issue #4's check: rejection ABC at PMC's final epsilon, and what it costs.
"""

from __future__ import annotations

import os
import time
from typing import List

import numpy as np
from harness import Row, Target, median, peak_memory, peer_python, run_case, spark_session


def _moments(samples: np.ndarray, weights: np.ndarray, names: List[str]) -> dict:
    """Weighted mean and sd (normalised weights, no bias correction), as for the peers."""
    weights = weights / weights.sum()
    found = {}
    for j, name in enumerate(names):
        mean = float(weights @ samples[:, j])
        found[f"{name}_mean"] = mean
        found[f"{name}_sd"] = float(np.sqrt(weights @ (samples[:, j] - mean) ** 2))
    return found


def abcspark_case(n_particles: int, generations: int, seed: int, rejection: bool) -> dict:
    """The case (fresh process): session start, then PMCABC; optionally rejection ABC after."""
    from abcspark import PMCABC, RejectionABC
    from abcspark.examples import height_observations, height_problem

    started = time.perf_counter()
    spark = spark_session("local[2]")
    session_seconds = time.perf_counter() - started
    prior, model, observed = height_problem()
    pmc = PMCABC(
        prior, model, n_particles=n_particles, generations=generations, spark=spark, progress=False
    )
    started = time.perf_counter()
    posterior = pmc.run(observed, seed=seed)
    run_seconds = time.perf_counter() - started
    epsilons = [float(e) if np.isfinite(e) else None for e in posterior.history["epsilon"]]
    result = {
        "session_seconds": session_seconds,
        "run_seconds": run_seconds,
        "n_simulations": int(posterior.history["n_simulations"].sum()),
        "final_epsilon": epsilons[-1],
        "epsilons": epsilons,
        "heights": height_observations().tolist(),
        "load": os.getloadavg()[0],
        **_moments(posterior.samples.to_numpy(), posterior.weights, prior.names),
    }
    if rejection:
        abc = RejectionABC(prior, model, spark=spark)
        plain = abc.run(observed, epsilon=epsilons[-1], n_samples=n_particles, seed=seed)
        result["rejection_simulations"] = int(plain.history["n_simulations"].sum())
    result.update(peak_memory())
    spark.stop()
    return result


def section(quick: bool) -> tuple:
    # ABCpy's weights cost O(n_particles**2) Python calls per generation: keep it small.
    n_particles, generations, repeats = (100, 3, 1) if quick else (300, 5, 2)
    first = run_case("pmc.abcspark_case", _settings(n_particles, generations, 1, False))
    pyabc, abcpy = peer_python("pyabc"), peer_python("abcpy")
    tools = {
        "abcspark local[2]": [first],
        "pyABC multicore (2 processes)": [],
        "ABCpy Spark backend (parallelism 2)": [],
        "ABCpy dummy backend": [],
    }
    shared = {"heights": first["heights"], "epsilons": first["epsilons"]}
    for rep in range(repeats):
        if rep:
            tools["abcspark local[2]"].append(
                run_case("pmc.abcspark_case", _settings(n_particles, generations, 1, False))
            )
        common = {**shared, "n_particles": n_particles, "seed": rep + 1}
        tools["pyABC multicore (2 processes)"].append(run_case("peer_pyabc.pmc", common, pyabc))
        tools["ABCpy Spark backend (parallelism 2)"].append(
            run_case("peer_abcpy.pmc", {**common, "backend": "spark"}, abcpy)
        )
        tools["ABCpy dummy backend"].append(
            run_case("peer_abcpy.pmc", {**common, "backend": "dummy"}, abcpy)
        )
    rows: List[Row] = []
    setting = f"{n_particles} particles, {generations} generations"
    for tool, runs in tools.items():
        case = f"{tool}, {setting}"
        rows.append(Row("pmc", case, "wall time", median([r["run_seconds"] for r in runs]), "s"))
        if "session_seconds" in runs[0]:
            total = median([r["run_seconds"] + r["session_seconds"] for r in runs])
            rows.append(Row("pmc", case, "wall time with session start", total, "s"))
        for figure in ("n_simulations", "final_epsilon", "mu_mean", "mu_sd"):
            rows.append(Row("pmc", case, figure, runs[0][figure]))
        rows.append(Row("pmc", case, "sigma_mean", runs[0]["sigma_mean"]))
        rows.append(Row("pmc", case, "sigma_sd", runs[0]["sigma_sd"]))
    ours = median([r["run_seconds"] for r in tools["abcspark local[2]"]])
    targets = [
        Target(
            "pmc: abcspark time / pyABC multicore time",
            ours / median([r["run_seconds"] for r in tools["pyABC multicore (2 processes)"]]),
            0.5,
            higher_is_better=False,
        ),
        Target(
            "pmc: abcspark time / ABCpy Spark backend time",
            ours / median([r["run_seconds"] for r in tools["ABCpy Spark backend (parallelism 2)"]]),
            1 / 25,
            higher_is_better=False,
        ),
    ]
    return rows, targets


def fewer_section(quick: bool) -> tuple:
    """Issue #4: simulations PMC and rejection ABC need to reach the same epsilon."""
    n_particles, generations = (300, 5) if quick else (1000, 8)
    found = run_case("pmc.abcspark_case", _settings(n_particles, generations, 1, True))
    case = f"height problem, {n_particles} particles, epsilon {found['final_epsilon']:.3g}"
    rows = [
        Row(
            "fewer",
            f"PMC ({generations} generations), {case}",
            "n_simulations",
            found["n_simulations"],
        ),
        Row("fewer", f"rejection ABC, {case}", "n_simulations", found["rejection_simulations"]),
    ]
    ratio = found["n_simulations"] / found["rejection_simulations"]
    target = Target(
        "#4: PMC simulations / rejection simulations, same epsilon",
        ratio,
        1.0,
        higher_is_better=False,
    )
    return rows, [target]


def _settings(n_particles: int, generations: int, seed: int, rejection: bool) -> dict:
    return {
        "n_particles": n_particles,
        "generations": generations,
        "seed": seed,
        "rejection": rejection,
    }
