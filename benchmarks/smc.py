"""SMC-ABC against PMC-ABC (and ABCpy's SMCABC) at the same number of simulations.

The conjugate model of the tests (``abcspark.examples.NormalMean``): ``mu ~ Normal(0, 2)``, the
summary is the mean of 10 draws of ``Normal(mu, 1)``, observed 0.8, so the exact posterior is
``Normal(0.7805, 0.3123)``. Per seed, ABCpy 0.6.3's ``SMCABC`` runs first (Del Moral version,
alpha 0.9, ``covFactor`` 2, resampling below N/2, ``BackendDummy``: one process; in its own
virtual environment, ``setup_abcpy.sh``) for the steps that about ``budget`` simulations buy,
since it has no budget of its own; the simulations it spent are then the budget
(``max_simulations``) of abcspark's ``SMCABC`` (alpha 0.9, one dataset per particle, no
acceptance-rate stop: it stops before a move it cannot afford) and ``PMCABC`` at its defaults
(``generations`` raised so the budget ends it, within one batch), both on the NumPy engine (one
process). Every run is a fresh process. Figures per seed and their mean: absolute error of the
posterior mean and sd against the exact ones, simulations, steps, final epsilon, wall time.
Without ABCpy (``--no-abcpy``) the budget is ``budget`` itself.

Run: ``.venv/bin/python benchmarks/smc.py [--quick] [--no-abcpy]``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from typing import Dict, List

from harness import Row, peer_python, run_case

PRIOR_MEAN, PRIOR_SD, SD, N_OBS, OBSERVED = 0.0, 2.0, 1.0, 10, 0.8
_VAR = 1.0 / (1.0 / PRIOR_SD**2 + N_OBS / SD**2)
EXACT = {
    "mean": _VAR * (PRIOR_MEAN / PRIOR_SD**2 + N_OBS * OBSERVED / SD**2),
    "sd": math.sqrt(_VAR),
}
"""The conjugate posterior of mu."""
METHODS = ("abcspark SMCABC", "abcspark PMCABC (default)", "ABCpy SMCABC (BackendDummy)")


def _summary(values, weights, n_simulations: int, seconds: float, epsilon: float) -> dict:
    import numpy as np

    values = np.asarray(values, dtype=np.float64).ravel()
    weights = np.asarray(weights, dtype=np.float64).ravel()
    weights = weights / weights.sum()
    mean = float(weights @ values)
    sd = float(np.sqrt(weights @ (values - mean) ** 2))
    return {
        "mean_error": abs(mean - EXACT["mean"]),
        "sd_error": abs(sd - EXACT["sd"]),
        "n_simulations": int(n_simulations),
        "run_seconds": seconds,
        "final_epsilon": float(epsilon),
    }


def abcspark_case(method: str, seed: int, n_particles: int, budget: int) -> dict:
    """One abcspark run (fresh process, NumPy engine) spending ``budget`` simulations."""
    from abcspark import PMCABC
    from abcspark.algorithms.smc import SMCABC
    from abcspark.examples import NormalMean

    model = NormalMean(PRIOR_MEAN, PRIOR_SD, SD, N_OBS)
    common = dict(n_particles=n_particles, max_simulations=budget, engine="numpy", progress=False)
    if method == "smc":
        sampler = SMCABC(model.prior, model, generations=10**4, min_acceptance_rate=0, **common)
    else:
        sampler = PMCABC(model.prior, model, generations=1000, **common)
    started = time.perf_counter()
    posterior = sampler.run([OBSERVED], seed=seed)
    seconds = time.perf_counter() - started
    found = _summary(
        posterior.samples["mu"],
        posterior.weights,
        posterior.n_simulations,
        seconds,
        posterior.epsilon,
    )
    return {**found, "steps": len(posterior.history)}


def abcpy_case(seed: int, n_particles: int, budget: int) -> dict:
    """ABCpy's SMCABC on BackendDummy (under ABCpy's python), for about ``budget`` simulations.

    ABCpy has no budget: it runs ``steps``. A step simulates each particle of nonzero weight,
    three quarters of them on average at alpha 0.9 (0.9, 0.81, ... until resampling at a half).
    """
    import logging

    from abcpy.backends import BackendDummy
    from abcpy.continuousmodels import Normal
    from abcpy.distances import Euclidean
    from abcpy.inferences import SMCABC
    from abcpy.statistics import Identity

    logging.getLogger("abcpy").setLevel(logging.WARNING)
    mu = Normal([[PRIOR_MEAN], [PRIOR_SD]], name="mu")
    mean_of_draws = Normal([mu, SD / math.sqrt(N_OBS)], name="mean")
    distance = Euclidean(Identity(degree=1, cross=False))
    sampler = SMCABC([mean_of_draws], [distance], BackendDummy(), seed=seed)
    started = time.perf_counter()
    journal = sampler.sample(
        [[OBSERVED]],
        steps=1 + round((budget - n_particles) / (0.75 * n_particles)),
        n_samples=n_particles,
        n_samples_per_param=1,
        epsilon_final=1e-12,
        alpha=0.9,
        covFactor=2,
    )
    seconds = time.perf_counter() - started
    found = _summary(
        journal.get_parameters()["mu"],
        journal.get_weights(),
        journal.number_of_simulations[-1],
        seconds,
        journal.configuration["epsilon_arr"][-1],
    )
    return {**found, "steps": len(journal.configuration["epsilon_arr"])}


def compare(n_particles: int, budget: int, seeds: int, abcpy: bool) -> Dict[str, List[dict]]:
    """Every method on seeds 1 to ``seeds``, each run in a fresh process.

    With ABCpy, it runs first and the simulations it spent are abcspark's budget for that seed.
    """
    python = peer_python("abcpy") if abcpy else None
    runs: Dict[str, List[dict]] = {m: [] for m in METHODS[: 3 if abcpy else 2]}
    for seed in range(1, seeds + 1):
        spent = budget
        if abcpy:
            found = run_case("smc.abcpy_case", _case(seed, n_particles, budget), python)
            runs[METHODS[2]].append(found)
            spent = found["n_simulations"]
        for method, key in zip(METHODS, ("smc", "pmc")):
            options = {**_case(seed, n_particles, spent), "method": key}
            runs[method].append(run_case("smc.abcspark_case", options))
    return runs


def _case(seed: int, n_particles: int, budget: int) -> dict:
    return {"seed": seed, "n_particles": n_particles, "budget": budget}


def table(runs: Dict[str, List[dict]]) -> str:
    """One markdown row per method and seed, then the mean over seeds."""
    lines = [
        "| method | seed | error of mean | error of sd | simulations | steps | epsilon | s |",
        "|" + " --- |" * 8,
    ]
    for method, found in runs.items():
        for seed, r in enumerate(found, 1):
            lines.append(_line(method, str(seed), r))
        mean = {k: statistics.mean(r[k] for r in found) for k in found[0]}
        lines.append(_line(f"**{method}**", "mean", mean))
    return "\n".join(lines)


def _line(method: str, seed: str, r: dict) -> str:
    return (
        f"| {method} | {seed} | {r['mean_error']:.4f} | {r['sd_error']:.4f} | "
        f"{r['n_simulations']:,.0f} | {r['steps']:.0f} | {r['final_epsilon']:.3g} | "
        f"{r['run_seconds']:.2f} |"
    )


def section(quick: bool) -> tuple:
    """Rows for ``run.py``: the mean over seeds of each figure, per method."""
    n_particles, budget, seeds = (200, 3000, 2) if quick else (500, 10_000, 5)
    runs = compare(n_particles, budget, seeds, abcpy=True)
    case = f"conjugate normal mean, {n_particles} particles, {budget:,} simulations"
    rows = []
    for method, found in runs.items():
        for figure in ("mean_error", "sd_error", "n_simulations", "run_seconds"):
            value = statistics.mean(r[figure] for r in found)
            rows.append(Row("smc", f"{method}, {case}", figure, value, note=f"{seeds} seeds"))
    return rows, []


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="200 particles, 3,000 simulations, 2 seeds"
    )
    parser.add_argument("--no-abcpy", action="store_true", help="leave ABCpy out")
    arguments = parser.parse_args()
    n, b, s = (200, 3000, 2) if arguments.quick else (500, 10_000, 5)
    print(f"exact posterior: mean {EXACT['mean']:.4f}, sd {EXACT['sd']:.4f}")
    print(table(compare(n, b, s, abcpy=not arguments.no_abcpy)))
