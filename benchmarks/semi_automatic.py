"""Semi-automatic summary statistics against plain distances, at equal simulations.

Run from the repository root::

    .venv/bin/python benchmarks/semi_automatic.py --budgets 1e4 1e5 --seeds 5

The model has a known posterior: two Normal(0, 1) means, each seen through one statistic with
noise sd 0.5, and six statistics of pure noise with sd 10 (8 statistics, 2 informative). The
exact posterior of each mean is Normal(s / 1.25, 0.2). Each method runs rejection ABC in
process (``engine="numpy"``; every engine gives the same bits) and keeps the 1% closest of
its budget's simulations:

- ``Euclidean``: the whole budget in the run;
- ``ScaledEuclidean``: a pilot of 10% of the budget (its MAD scales), 90% in the run;
- ``SemiAutomatic`` (degree 1 and 2): a pilot of 10% for the regression, 90% in the run;
- ``oracle``: Euclidean on the two informative statistics alone (what knowing them buys).

Every simulator call counts, dry runs included. The error is the one of
``tests/test_semi_automatic.py``: per parameter, the posterior mean's distance to the exact
one in exact sds plus the absolute log ratio of the sds, summed over both parameters (0 is
exact; the prior itself scores about 4.8 on average over observations). The table gives the mean
and sd over seeds, each seed with its own observed data.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from abcspark import Normal, Prior, RejectionABC, ScaledEuclidean  # noqa: E402
from abcspark.semi_automatic import SemiAutomatic  # noqa: E402

SIGMA, NOISE, N_NOISE = 0.5, 10.0, 6
PRIOR = Prior(mu1=Normal(0.0, 1.0), mu2=Normal(0.0, 1.0))
PILOT_SHARE, KEEP_SHARE = 0.1, 0.01


def simulate(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    informative = theta + SIGMA * rng.standard_normal(theta.shape)
    return np.column_stack([informative, NOISE * rng.standard_normal((len(theta), N_NOISE))])


def informative_only(stats: np.ndarray, observed: np.ndarray) -> np.ndarray:
    diff = stats[:, :2] - observed[:2]
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


def error(posterior, observed: np.ndarray) -> float:
    exact_mean, exact_sd = observed[:2] / (1 + SIGMA**2), math.sqrt(SIGMA**2 / (1 + SIGMA**2))
    mean, sd = posterior.mean().to_numpy(), posterior.std().to_numpy()
    return float(np.sum(np.abs(mean - exact_mean) / exact_sd + np.abs(np.log(sd / exact_sd))))


def spent(posterior) -> int:
    return posterior.metadata["n_simulations"] + posterior.metadata["n_driver_simulations"]


def one_seed(budget: int, seed: int) -> list:
    """Every method's error and simulator calls on one observed dataset."""
    truth = PRIOR.sample(1, np.random.default_rng([seed, 1]))
    observed = simulate(truth, np.random.default_rng([seed, 2]))[0]
    pilot, keep = int(PILOT_SHARE * budget), int(KEEP_SHARE * budget)
    run = dict(engine="numpy", batch_size=min(1000, pilot // 10))
    found = []

    def rejection(name: str, distance, n_run: int, extra: int = 0) -> None:
        post = RejectionABC(PRIOR, simulate, distance, **run).run(
            observed, quantile=keep / n_run, n_simulations=n_run, seed=seed
        )
        calls = spent(post) + extra
        found.append(
            dict(
                method=name,
                budget=budget,
                seed=seed,
                error=error(post, observed),
                simulations=calls,
            )
        )

    rejection("Euclidean", "euclidean", budget)
    rejection("ScaledEuclidean", ScaledEuclidean(n_pilot=pilot), budget - pilot)
    for degree in (1, 2):
        fitted = SemiAutomatic(degree=degree).fit(
            PRIOR, simulate, observed, n=pilot, seed=10**6 + seed, **run
        )
        rejection(f"SemiAutomatic(degree={degree})", fitted, budget - pilot, fitted.n_simulations)
    rejection("oracle (2 informative statistics)", informative_only, budget)
    return found


def table(rows: pd.DataFrame) -> str:
    """Mean (sd) of the error over seeds, and mean simulator calls, per method and budget."""
    lines = [
        "| method | budget | error vs exact: mean (sd) | simulator calls |",
        "| --- | ---: | ---: | ---: |",
    ]
    for (method, budget), group in rows.groupby(["method", "budget"], sort=False):
        lines.append(
            f"| {method} | {budget:.0e} | {group['error'].mean():.3f} ({group['error'].std():.3f}) "
            f"| {group['simulations'].mean():,.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", nargs="+", type=float, default=[1e4, 1e5])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    rows = [
        row
        for budget in args.budgets
        for seed in range(args.seeds)
        for row in one_seed(int(budget), seed)
    ]
    frame = pd.DataFrame(rows)
    frame["order"] = frame.groupby("budget").cumcount() % frame["method"].nunique()
    print(table(frame.sort_values(["budget", "order"], kind="mergesort")))


if __name__ == "__main__":
    main()
