"""Budgets: how much of ``max_simulations`` a PMC run spends, keeps and wastes.

Run from the repository root (it imports the abcspark beside it, so a copy in an older clone
measures that version)::

    .venv/bin/python benchmarks/budget.py --budgets 1e4 1e5 --seeds 3

For every model of the accuracy benchmark, budget B and seed, it runs ``PMCABC`` at its
defaults with ``max_simulations=B`` (``N_PARTICLES`` as in ``accuracy.py``) and prints, as
a share of B: the simulations that count toward the posterior (``kept``), those run but not
counted (``wasted``: batches past the cut, the rest of the batch after a generation's last
particle, dropped generations; ``after_last``: the second of these), and those left
unspent; and the final epsilon, the generations and the stop reason. The means per model
and budget end the output as a table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from accuracy import N_PARTICLES, abcspark_prior  # noqa: E402
from accuracy_models import MODELS  # noqa: E402


def one_run(model_name: str, budget: int, seed: int) -> dict:
    """One default PMC run's spending, as shares of ``budget``."""
    import abcspark

    model = MODELS[model_name]
    pmc = abcspark.PMCABC(
        abcspark_prior(model),
        model.simulate,
        n_particles=N_PARTICLES[budget],
        generations=1000,
        max_simulations=budget,
        engine="numpy",
        progress=False,
    )
    posterior = pmc.run(model.observed(0), seed=seed)
    meta = posterior.metadata
    used, wasted = meta["n_simulations"], meta["n_discarded"] + meta["n_after_last"]
    return {
        "model": model_name,
        "budget": budget,
        "seed": seed,
        "kept": (used - wasted) / budget,
        "wasted": wasted / budget,
        "after_last": meta["n_after_last"] / budget,
        "unspent": max(budget - used, 0) / budget,
        "epsilon": posterior.epsilon,
        "generations": len(posterior.history),
        "stop": meta["stop_reason"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", nargs="+", type=float, default=[1e4, 1e5])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=sorted(MODELS))
    args = parser.parse_args()
    rows = []
    for model in args.models:
        for budget in (int(b) for b in args.budgets):
            for seed in range(args.seeds):
                rows.append(one_run(model, budget, seed))
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows).groupby(["model", "budget"])
    means = table[["kept", "wasted", "after_last", "unspent", "epsilon", "generations"]].mean()
    means["stops"] = table["stop"].agg(lambda s: ", ".join(sorted(set(s))))
    print(means.round(3).to_string())


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
