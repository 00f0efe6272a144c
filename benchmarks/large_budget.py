"""Large budgets: PMC spends 1e7 to 1e9 simulations to within one batch, and in how long.

Run from the repository root::

    .venv/bin/python benchmarks/large_budget.py --budgets 1e7 1e8 1e9 --baseline-up-to 1e8

``PMCABC(max_simulations=B)`` at its defaults (1,000 particles) on the 1-d conjugate model of
the tests (``abcspark.examples.NormalMean``, a simulation is one normal draw: the batches'
overhead is all there is to see), on the NumPy engine. Beside it, up to
``--baseline-up-to``, the same run in batches of a tenth of the particles (100), the default
before a budget set a floor of B / 100,000 on the batch size; at 1e9 that run takes about 25
minutes. Printed per run: batch size, simulations (and how far from B), the share discarded,
generations, final epsilon and seconds; then the baseline's seconds over the default's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

from abcspark import PMCABC  # noqa: E402
from abcspark.examples import NormalMean  # noqa: E402

N_PARTICLES = 1000
OLD_BATCH_SIZE = N_PARTICLES // 10


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", nargs="+", type=float, default=[1e7, 1e8, 1e9])
    parser.add_argument("--baseline-up-to", type=float, default=1e8)
    args = parser.parse_args()
    for budget in (int(b) for b in args.budgets):
        default = one_run(budget, None)
        print("default ", default, flush=True)
        if budget <= args.baseline_up_to:
            baseline = one_run(budget, OLD_BATCH_SIZE)
            print("baseline", baseline, flush=True)
            ratio = baseline["seconds"] / max(default["seconds"], 0.1)
            print(f"{budget:.0e}: batches of {OLD_BATCH_SIZE} take {ratio:.1f} times as long")


if __name__ == "__main__":
    main()
