"""Large budgets: PMC spends 1e7 to 1e9 simulations to within one batch, and in how long.

Run from the repository root::

    .venv/bin/python benchmarks/large_budget.py --budgets 1e7 1e8 1e9 --baseline-up-to 1e8
    .venv/bin/python benchmarks/large_budget.py --rejection --budgets 1e9 --baseline-up-to 1e9

``PMCABC(max_simulations=B)`` at its defaults (1,000 particles) on the 1-d conjugate model of
the tests (``abcspark.examples.NormalMean``, a simulation is one normal draw: the batches'
overhead is all there is to see), on the NumPy engine. Beside it, up to
``--baseline-up-to``, the same run in batches of a tenth of the particles (100), the default
before a budget set a floor of B / 100,000 on the batch size; at 1e9 that run takes about 25
minutes. Printed per run: batch size, simulations (and how far from B), the share discarded,
generations, final epsilon and seconds; then the baseline's seconds over the default's.

With ``--rejection``: ``RejectionABC.run(epsilon=0.001, n_simulations=B)`` on the same model
instead, beside batches of 1,000 (its rule before the same floor, a tenth of B at most 1,000).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

from abcspark import PMCABC, RejectionABC  # noqa: E402
from abcspark.examples import NormalMean  # noqa: E402

N_PARTICLES = 1000
OLD_BATCH_SIZE = N_PARTICLES // 10
OLD_REJECTION_BATCH_SIZE = 1000


def one_run(budget: int, batch_size: Optional[int]) -> dict:
    """One PMC run of ``budget`` simulations: its spending and seconds."""
    model = NormalMean()
    pmc = PMCABC(
        model.prior,
        model,
        n_particles=N_PARTICLES,
        max_simulations=budget,
        batch_size=batch_size,
        engine="numpy",
        progress=False,
    )
    started = time.perf_counter()
    posterior = pmc.run([0.5], seed=1)
    meta = posterior.metadata
    return {
        "budget": budget,
        "batch_size": meta["settings"]["batch_size"],
        "n_simulations": meta["n_simulations"],
        "over": meta["n_simulations"] - budget,
        "discarded": round(meta["n_discarded"] / budget, 4),
        "generations": len(posterior.history),
        "epsilon": float(f"{posterior.epsilon:.3g}"),
        "seconds": round(time.perf_counter() - started, 1),
    }


def one_rejection(n_simulations: int, batch_size: Optional[int]) -> dict:
    """One rejection run of ``n_simulations`` at epsilon 0.001: its batches and seconds."""
    model = NormalMean()
    rejection = RejectionABC(model.prior, model, batch_size=batch_size, engine="numpy")
    started = time.perf_counter()
    posterior = rejection.run([0.5], epsilon=0.001, n_simulations=n_simulations, seed=1)
    meta = posterior.metadata
    return {
        "budget": n_simulations,
        "batch_size": meta["settings"]["batch_size"],
        "n_simulations": meta["n_simulations"],
        "accepted": len(posterior.samples),
        "mean": round(float(posterior.samples["mu"].mean()), 5),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", nargs="+", type=float, default=[1e7, 1e8, 1e9])
    parser.add_argument("--baseline-up-to", type=float, default=1e8)
    parser.add_argument("--rejection", action="store_true", help="rejection ABC, not PMC")
    args = parser.parse_args()
    run, old = (
        (one_rejection, OLD_REJECTION_BATCH_SIZE) if args.rejection else (one_run, OLD_BATCH_SIZE)
    )
    for budget in (int(b) for b in args.budgets):
        default = run(budget, None)
        print("default ", default, flush=True)
        if budget <= args.baseline_up_to:
            baseline = run(budget, old)
            print("baseline", baseline, flush=True)
            ratio = baseline["seconds"] / max(default["seconds"], 0.1)
            print(f"{budget:.0e}: batches of {old} take {ratio:.1f} times as long")


if __name__ == "__main__":
    main()
