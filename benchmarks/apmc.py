"""APMC against PMC at the same budget, on conjugate Normal models whose posterior is exact.

Run from the repository root with the project's virtual environment::

    .venv/bin/python benchmarks/apmc.py                       # 1e4 simulations, 5 seeds
    .venv/bin/python benchmarks/apmc.py --budget 1e5 --seeds 3 --particles 1000

For each model, population size N and seed, ``APMCABC`` and ``PMCABC`` run at their default
settings except ``n_particles=N`` and ``max_simulations=budget`` (in-process NumPy engine:
accuracy per simulation is the question, not speed). Each posterior's weighted mean and sd are
compared with the exact conjugate posterior's (epsilon 0). The table gives, per method, the
root mean square over seeds of those errors in units of the exact posterior sd, the
simulations used and the final epsilon (means over seeds), and the stop reasons. PMC's
default ``generations=5`` may stop it before the budget is spent, so ``pmc-spend`` adds PMC
with ``generations=100`` (it runs to the budget). Writes ``benchmarks/out/apmc.md``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from abcspark import PMCABC  # noqa: E402
from abcspark.algorithms.apmc import APMCABC  # noqa: E402
from abcspark.examples import NormalMean  # noqa: E402

MODELS = {
    # Sample mean of 10 N(mu, 1) draws, prior N(0, 2^2), xbar = 0.8: N(0.7805, 0.3123^2).
    "narrow": (NormalMean(prior_mean=0.0, prior_sd=2.0, sd=1.0, n_obs=10), 0.8),
    # One N(mu, 2^2) draw, prior N(0, 2^2), x = 4: N(2, 1.414^2), the prior matters.
    "informative": (NormalMean(prior_mean=0.0, prior_sd=2.0, sd=2.0, n_obs=1), 4.0),
}
METHODS = {"apmc": (APMCABC, {}), "pmc": (PMCABC, {}), "pmc-spend": (PMCABC, {"generations": 100})}
"""Method -> (class, options beside n_particles and max_simulations)."""


def exact(model: NormalMean, observed: float) -> tuple:
    """Mean and sd of the conjugate posterior of ``model`` at the observed sample mean."""
    precision = 1 / model.prior_sd**2 + model.n_obs / model.sd**2
    mean = (model.prior_mean / model.prior_sd**2 + model.n_obs * observed / model.sd**2) / precision
    return mean, 1 / math.sqrt(precision)


def run_one(method: str, name: str, n: int, budget: int, seed: int) -> dict:
    model, observed = MODELS[name]
    started = time.perf_counter()
    cls, options = METHODS[method]
    algorithm = cls(
        model.prior,
        model,
        n_particles=n,
        max_simulations=budget,
        engine="numpy",
        progress=False,
        **options,
    )
    posterior = algorithm.run([observed], seed=seed)
    mean, sd = exact(model, observed)
    weights, mu = posterior.weights, posterior.samples["mu"].to_numpy()
    got_mean = float(weights @ mu)
    got_sd = float(np.sqrt(weights @ (mu - got_mean) ** 2))
    return {
        "mean_error": (got_mean - mean) / sd,
        "sd_error": (got_sd - sd) / sd,
        "n_simulations": posterior.metadata["n_simulations"],
        "epsilon": posterior.epsilon,
        "generations": len(posterior.history),
        "stop": posterior.metadata["stop_reason"],
        "seconds": time.perf_counter() - started,
    }


def table(results: dict) -> str:
    lines = [
        "| model | N | method | RMSE mean / sd | RMSE sd / sd | simulations | final epsilon "
        "| generations | stop |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (name, n, method), runs in results.items():
        rms = {k: math.sqrt(np.mean([r[k] ** 2 for r in runs])) for k in ("mean_error", "sd_error")}
        stops = ", ".join(f"{s} x{c}" for s, c in Counter(r["stop"] for r in runs).items())
        lines.append(
            f"| {name} | {n} | {method} | {rms['mean_error']:.3f} | {rms['sd_error']:.3f} | "
            f"{np.mean([r['n_simulations'] for r in runs]):,.0f} | "
            f"{np.mean([r['epsilon'] for r in runs]):.3g} | "
            f"{np.mean([r['generations'] for r in runs]):.1f} | {stops} |"
        )
    return "\n".join(lines)


def main(argv: list | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=1e4)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--particles", type=int, nargs="+", default=[1000, 300])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    args = parser.parse_args(argv)
    results: dict = {}
    for name in args.models:
        for n in args.particles:
            for method in METHODS:
                key = (name, n, method)
                results[key] = [
                    run_one(method, name, n, int(args.budget), seed)
                    for seed in range(1, args.seeds + 1)
                ]
    text = (
        f"Budget {int(args.budget):,} simulations, seeds 1-{args.seeds}; errors in units of "
        f"the exact posterior sd.\n\n{table(results)}\n"
    )
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "apmc.md").write_text(text)
    return text


if __name__ == "__main__":
    print(main())
