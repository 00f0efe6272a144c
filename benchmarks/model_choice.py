"""Model choice side by side: abcspark's ``ModelChoice`` against pyABC 0.13's multi-model
``ABCSMC``, on Poisson against geometric counts, whose exact model probabilities are known.

For each dataset (``peer_pyabc_model_choice.DATASETS``), budget and seed, pyABC runs first at
its defaults (``max_total_nr_simulations=budget``; it finishes the generation it is in, so it
overshoots), then abcspark's ``ModelChoice`` at its defaults given exactly the simulations that
pyABC's run used (and, as pyABC, as many generations as they buy), on the NumPy engine and
on Spark ``local[2]`` (the same bits: checked). The error is |P(Poisson) - exact|.

Usage: ``.venv/bin/python benchmarks/model_choice.py [--budgets 1000 10000] [--seeds 3]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

from harness import peer_python, run_case  # noqa: E402
from peer_pyabc_model_choice import (  # noqa: E402
    DATASETS,
    exact_poisson,
    geometric,
    poisson,
)
from peer_pyabc_model_choice import statistics as count_statistics  # noqa: E402

N_PARTICLES = {1000: 100, 10_000: 300, 100_000: 1000}


def abcspark_run(dataset: str, budget: int, n_particles: int, seed: int, **engine) -> dict:
    from abcspark import Beta, Gamma, ModelChoice, Prior

    models = {
        "poisson": (Prior(rate=Gamma(2.0, 1.0)), poisson),
        "geometric": (Prior(p=Beta(1.0, 1.0)), geometric),
    }
    observed = count_statistics(np.array([DATASETS[dataset]]))[0]
    choice = ModelChoice(  # generations: as many as the budget buys, as pyABC's default
        models,
        n_particles=n_particles,
        generations=10**6,
        max_simulations=budget,
        progress=False,
        **engine,
    )
    started = time.perf_counter()
    result = choice.run(observed, seed=seed)
    return {
        "seconds": time.perf_counter() - started,
        "n_simulations": int(result.metadata["n_simulations"]),
        "generations": len(result.by_generation),
        "p_poisson": float(result.probabilities.get("poisson", 0.0)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", nargs="+", type=int, default=[1000, 10_000])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    from abcspark import get_spark

    spark = get_spark()
    python = peer_python("pyabc")
    rows = []
    for budget in args.budgets:
        n = N_PARTICLES[budget]
        for dataset in DATASETS:
            for seed in range(1, args.seeds + 1):
                case = dict(dataset=dataset, budget=budget, n_particles=n, seed=seed)
                peer = run_case("peer_pyabc_model_choice.smc", case, python)
                spent = dict(case, budget=peer["n_simulations"])
                local = abcspark_run(**spent, engine="numpy")
                on_spark = abcspark_run(**spent, spark=spark, parallelism=2)
                assert on_spark["p_poisson"] == local["p_poisson"], (case, on_spark, local)
                exact = exact_poisson(dataset)
                for method, found in [("pyABC", peer), ("abcspark", local), ("spark", on_spark)]:
                    error = abs(found["p_poisson"] - exact)
                    rows.append(dict(case, method=method, error=error, **found))
                    print(rows[-1], flush=True)
    report(rows)


def report(rows: list) -> None:
    print(f"\nP(Poisson) against the exact one, load {os.getloadavg()}")
    print("\n| budget | method | mean abs. error | simulations | generations | seconds |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    keys = sorted({(r["budget"], r["method"]) for r in rows}, key=lambda k: (k[0], k[1]))
    for budget, method in keys:
        mine = [r for r in rows if r["budget"] == budget and r["method"] == method]
        error, sims, generations, seconds = (
            statistics.mean(r[key] for r in mine)
            for key in ("error", "n_simulations", "generations", "seconds")
        )
        print(
            f"| {budget:,} | {method} | {error:.3f} | {sims:,.0f} | {generations:.1f} | "
            f"{seconds:.2f} |"
        )
    by_key = {(r["budget"], r["dataset"], r["seed"], r["method"]): r["error"] for r in rows}
    for budget in sorted({r["budget"] for r in rows}):
        pairs = [
            (by_key[k], by_key[(*k[:3], "pyABC")])
            for k in by_key
            if k[0] == budget and k[3] == "abcspark"
        ]
        wins = sum(a < b for a, b in pairs)
        print(f"budget {budget:,}: abcspark closer in {wins} of {len(pairs)} paired runs")


if __name__ == "__main__":
    main()
