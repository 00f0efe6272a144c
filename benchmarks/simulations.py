"""Simulations to a final epsilon: abcspark's PMC kernels against pyABC on the height problem.

Run from the repository root (pyABC's environment from ``bash benchmarks/setup_pyabc.sh``)::

    .venv/bin/python benchmarks/simulations.py --particles 300 1000 --seeds 3

For each kernel, population size and seed, abcspark's ``PMCABC`` runs five generations at
its defaults (epsilon the weighted median of the last distances) in-process; its epsilon
schedule is then given to pyABC 0.13's ``ABCSMC`` (multicore, its default kernel), so both
reach the same final epsilon with the same population, summaries and distance. Each side
counts every simulator call (abcspark: ``metadata["n_simulations"]``, discarded batches
included). The tables give the medians and means of abcspark's count over pyABC's, per kernel
and size, of what abcspark ran up to each generation's last particle (``run_to_last``:
without ``n_discarded`` and ``n_after_last``) over pyABC's count, and of each side's final
effective sample size (``ess``, ``pyabc_ess``): the same epsilon is worth as much only with
as good a population.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from harness import peer_python, run_case  # noqa: E402

KERNELS = ("gaussian", "silverman", "scott", "olcm", "local")


def abcspark_run(kernel: str, n_particles: int, seed: int) -> dict:
    """Five default generations with ``kernel``: simulations, schedule and final epsilon."""
    from abcspark import PMCABC
    from abcspark.examples import height_observations, height_problem

    prior, model, observed = height_problem()
    pmc = PMCABC(
        prior, model, n_particles=n_particles, generations=5, kernel=kernel, engine="numpy"
    )
    posterior = pmc.run(observed, seed=seed)
    epsilons = [float(e) if np.isfinite(e) else None for e in posterior.history["epsilon"]]
    return {
        "n_simulations": posterior.metadata["n_simulations"],
        "after_last": posterior.metadata["n_after_last"],
        "discarded": posterior.metadata["n_discarded"],
        "ess": posterior.ess,
        "epsilons": epsilons,
        "heights": height_observations().tolist(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", nargs="+", type=int, default=[300, 1000])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--kernels", nargs="+", default=list(KERNELS))
    args = parser.parse_args()
    pyabc = peer_python("pyabc")
    rows = []
    for n_particles in args.particles:
        for seed in range(1, args.seeds + 1):
            for kernel in args.kernels:
                ours = abcspark_run(kernel, n_particles, seed)
                shared = {"heights": ours["heights"], "epsilons": ours["epsilons"]}
                theirs = run_case(
                    "peer_pyabc.pmc", {**shared, "n_particles": n_particles, "seed": seed}, pyabc
                )
                rows.append(
                    {
                        "kernel": kernel,
                        "particles": n_particles,
                        "seed": seed,
                        "final_epsilon": ours["epsilons"][-1],
                        "abcspark": ours["n_simulations"],
                        "after_last": ours["after_last"],
                        "discarded": ours["discarded"],
                        "pyabc": theirs["n_simulations"],
                        "ess": ours["ess"],
                        "pyabc_ess": theirs["ess"],
                    }
                )
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows).assign(
        ratio=lambda t: t["abcspark"] / t["pyabc"],
        run_to_last=lambda t: (t["abcspark"] - t["after_last"] - t["discarded"]) / t["pyabc"],
    )
    columns = ["final_epsilon", "abcspark", "pyabc", "ratio", "run_to_last", "ess", "pyabc_ess"]
    by = table.groupby(["particles", "kernel"])[columns]
    print(
        "medians\n", by.median().round(3).to_string(), "\nmeans\n", by.mean().round(4).to_string()
    )
    print("standard errors of the means\n", by.sem().round(4).to_string())


if __name__ == "__main__":
    main()
