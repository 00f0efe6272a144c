"""Accuracy: how close abcspark's posteriors come to the exact ones, beside pyABC's, per budget.

Run from the repository root with the project's virtual environment::

    .venv/bin/python benchmarks/accuracy.py --quick
    .venv/bin/python benchmarks/accuracy.py --budgets 1e3 1e4 1e5 --seeds 3 --observations 2
    .venv/bin/python benchmarks/accuracy.py --budgets 1e6 --seeds 1 --observations 1 --append

For every model (``accuracy_models``), observation, seed, budget B and method, it runs the
method with B simulations, turns its weighted particles into 10,000 draws, and compares them
with 10,000 exact draws (``accuracy_metrics``). Methods (``--methods``, all by default):
abcspark's ``PMCABC`` at its defaults (``pmc``) and with one option changed (a kernel,
``pmc-olcm``, ``pmc-silverman``, ``pmc-scott``, ``pmc-local``; an epsilon quantile,
``pmc-q0.3``, ``pmc-q0.7``; regression adjustment, ``pmc-adjust``; see ``accuracy_methods``),
``RejectionABC`` keeping the closest N of B (``rejection``), pyABC 0.13's ``ABCSMC`` at its
defaults (``pyabc``, in its own python through ``case.py``), abcspark's defaults given exactly
the simulations that pyABC's run of the same key used (``pmc-at-pyabc``: pyABC finishes the
generation it is in and overshoots B by up to 1.5 times; list ``pyabc`` first) and N exact
draws (``exact-N``).
N, the population, depends on B (``N_PARTICLES``) and is the same for all. For example, two
kernels against the default and rejection, keeping the rows of earlier invocations::

    .venv/bin/python benchmarks/accuracy.py --append --methods pmc pmc-local pmc-q0.3 rejection

Writes ``benchmarks/out/accuracy.csv`` (one row per run), ``accuracy.md`` (means over seeds
and observations) and ``accuracy.png`` (``accuracy_report``); ``--append`` keeps the rows of
earlier invocations, replacing those it runs again.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from accuracy_methods import METHODS, abcspark_prior, available_methods, run_abcspark  # noqa: E402
from accuracy_metrics import N_DRAWS, c2st, energy_distance, kde_draws, mean_error  # noqa: E402
from accuracy_models import MODELS, Model  # noqa: E402
from accuracy_report import KEY, write_report  # noqa: E402
from harness import (  # noqa: E402
    OUT,
    add_grid_options,
    cases,
    known_budgets,
    peer_python,
    pyabc_simulations,
    replace_row,
    run_case,
)

N_PARTICLES = {10**3: 100, 10**4: 300, 10**5: 1000, 10**6: 1000}
"""Population size per budget, abcspark's ``n_particles`` and pyABC's ``population_size``;
rejection keeps as many (the closest N of B)."""

DRAW_SEED = 7_000
"""Draws of a method's posterior use seed 7,000 + run seed; exact draws 9,000 + observation."""


DRAWN_BY = {
    "kde": "benchmark KDE",
    "sample": "Posterior.sample (resample)",
    "sample-kde": "Posterior.sample (kde)",
}


def draws_of(model: Model, particles, weights, seed: int, how: str, post=None) -> tuple:
    """10,000 draws of a weighted population, the same way for every method: ``(draws, how)``.

    ``how`` is ``"kde"``, the benchmark's weighted kernel density estimate inside the prior's
    support (``accuracy_metrics.kde_draws``), or abcspark's ``Posterior.sample`` by resampling
    (``"sample"``, its default) or by its own KDE (``"sample-kde"``); a population of another
    tool is wrapped in a ``Posterior`` first.
    """
    if how.startswith("sample"):
        from abcspark import Posterior

        if post is None:
            bounds = abcspark_prior(model).bounds().tolist()
            frame = pd.DataFrame(particles, columns=model.names)
            post = Posterior(frame, weights, np.zeros(len(frame)), metadata={"bounds": bounds})
        options = {"method": "kde"} if how == "sample-kde" else {}
        draws = post.sample(N_DRAWS, seed=DRAW_SEED + seed, **options)
        return np.asarray(draws, dtype=np.float64), DRAWN_BY[how]
    rng = np.random.default_rng(DRAW_SEED + seed)
    draws = kde_draws(particles, weights, N_DRAWS, model.in_support, rng, model.log_columns)
    return draws, DRAWN_BY[how]


def abcspark_result(method, model, observed, budget, seed, how, n) -> dict:
    post, seconds = run_abcspark(method, model, observed, budget, seed, n)
    meta = post.metadata
    draws, how = draws_of(model, post.samples.to_numpy(), post.weights, seed, how, post)
    return {
        "n_simulations": int(meta.get("n_simulations", post.n_simulations)),
        "n_driver_simulations": meta.get("n_driver_simulations", np.nan),
        "generations": len(post.history),
        "epsilon": post.epsilon,
        "stop_reason": meta.get("stop_reason", ""),
        **used_settings(meta),
        "seconds": seconds,
        "draws_from": how,
        "draws": draws,
    }


def used_settings(meta: dict) -> dict:
    """The kernel (its type and scale) and epsilon quantile a PMC run used, from its metadata."""
    settings = meta.get("settings", {})
    kernel = settings.get("kernel")
    if isinstance(kernel, dict):
        scale = kernel.get("scale")
        kernel = kernel.get("type", "") + ("" if scale is None else f"({scale})")
    return {"kernel": kernel or "", "epsilon_quantile": settings.get("epsilon_quantile", np.nan)}


def pyabc_result(model, observation, budget, seed, python, timeout, how) -> dict:
    kwargs = dict(
        model=model.name,
        observation=observation,
        budget=budget,
        n_particles=N_PARTICLES[budget],
        seed=seed,
    )
    out = run_case("peer_pyabc_accuracy.smc", kwargs, python, timeout=timeout)
    particles, weights = np.asarray(out["particles"]), np.asarray(out["weights"])
    draws, how = draws_of(model, particles, weights, seed, how)
    return {
        "n_simulations": out["n_simulations"],
        "generations": out["generations"],
        "epsilon": out["epsilon"],
        "seconds": out["seconds"],
        "draws_from": how,
        "draws": draws,
    }


def floor_result(model, observed, budget, seed, how) -> dict:
    """N exact draws made into 10,000 as any population: a perfect sampler of N particles."""
    n = N_PARTICLES[budget]
    particles = model.exact(observed, n, np.random.default_rng(DRAW_SEED + 100 + seed))
    draws, how = draws_of(model, particles, np.ones(n), seed, how)
    return {"n_simulations": 0, "epsilon": 0.0, "seconds": 0.0, "draws_from": how, "draws": draws}


def run_method(method, model, observation, observed, budget, seed, args, rows) -> dict:
    """One run's figures; a failure is a row too, with its error."""
    try:
        n = N_PARTICLES[budget]
        if method == "pmc-at-pyabc":
            budget = pyabc_simulations(rows, model.name, observation, budget, seed)
        if method == "pyabc":
            result = pyabc_result(
                model, observation, budget, seed, args.python, args.timeout, args.draws
            )
        elif method == "exact-N":
            result = floor_result(model, observed, budget, seed, args.draws)
        else:
            result = abcspark_result(method, model, observed, budget, seed, args.draws, n)
        return measure(result, args.exact, len(model.names) <= args.c2st_max_dim)
    except Exception as exc:  # noqa: BLE001 (any failure of a tool is a finding)
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def measure(result: dict, exact: np.ndarray, with_c2st: bool) -> dict:
    draws = result.pop("draws")
    started = time.perf_counter()
    result["c2st"] = c2st(draws, exact) if with_c2st else np.nan
    result["energy"] = energy_distance(draws, exact)
    result["mean_error"] = mean_error(draws, exact)
    result["metric_seconds"] = time.perf_counter() - started
    return result


def git_state() -> dict:
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(HERE.parent), *args], capture_output=True)
        return done.stdout.decode().strip()

    return {"commit": git("log", "--oneline", "-1"), "diff_stat": git("diff", "--stat")}


def draw_method(asked: str) -> str:
    from abcspark import Posterior

    if asked != "kde" and not hasattr(Posterior, "sample"):
        print("abcspark's Posterior has no sample method: using the benchmark's KDE", flush=True)
        return "kde"
    print(f"10,000 draws of every population by: {asked}", flush=True)
    return asked


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1e3 only, one run each")
    parser.add_argument("--budgets", nargs="+", type=float, default=[1e3, 1e4, 1e5])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=METHODS,
        default=list(METHODS),
        metavar="METHOD",
        help=f"which methods to run (default all): {', '.join(METHODS)}",
    )
    parser.add_argument(
        "--c2st-max-dim",
        type=int,
        default=2,
        help="C2ST only for models of at most this many parameters (its MLP takes minutes "
        "in 10 dimensions); the others get the energy distance and the mean error",
    )
    parser.add_argument(
        "--draws",
        choices=tuple(DRAWN_BY),
        default="kde",
        help="how every population becomes 10,000 draws: the benchmark's weighted KDE "
        "(default), or abcspark's Posterior.sample by resampling or by its KDE (where it "
        "exists, else the benchmark's KDE); resampling repeats particles, which the "
        "classifier learns: C2ST takes ~6 times longer and rises",
    )
    add_grid_options(parser, seeds=3, observations=2, timeout=1200)
    args = parser.parse_args(argv)
    if args.quick:
        args.budgets, args.seeds, args.observations = [1e3], 1, 1
    args.budgets = known_budgets(parser, args.budgets, N_PARTICLES)
    if "pyabc" in args.methods and "pmc-at-pyabc" in args.methods:
        # pmc-at-pyabc reads the simulations of pyABC's run: pyABC runs first.
        args.methods.remove("pyabc")
        args.methods.insert(args.methods.index("pmc-at-pyabc"), "pyabc")
    return args


def main(argv=None) -> None:
    args = parse(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    csv = OUT / "accuracy.csv"
    rows = pd.read_csv(csv) if (args.append or args.report) and csv.exists() else pd.DataFrame()
    state, started = git_state(), time.perf_counter()
    if args.report:
        write_report(rows, OUT, state)
        return
    print(f"abcspark at {state['commit']}\n{state['diff_stat']}", flush=True)
    args.methods = available_methods(args.methods)
    args.draws = draw_method(args.draws)
    args.python = peer_python("pyabc") if "pyabc" in args.methods else None
    exact = {}
    for budget, model, observation, seed, method in cases(args, MODELS):
        observed = model.observed(observation)
        if (model.name, observation) not in exact:
            rng = np.random.default_rng(9_000 + observation)
            exact[model.name, observation] = model.exact(observed, N_DRAWS, rng)
        args.exact = exact[model.name, observation]
        result = run_method(method, model, observation, observed, budget, seed, args, rows)
        key = dict(method=method, model=model.name, budget=budget, seed=seed)
        row = {**key, "observation": observation, "n_particles": N_PARTICLES[budget], **result}
        row["draws_from"] = DRAWN_BY[args.draws]
        row.update(commit=state["commit"], load=os.getloadavg()[0])
        print(_line(row), flush=True)
        rows = replace_row(rows, row, KEY)
        rows.to_csv(csv, index=False)
    write_report(rows, OUT, state)
    print(f"done in {time.perf_counter() - started:.0f} s; tables in {OUT}", flush=True)


def _line(row: dict) -> str:
    head = f"{row['model']:<10} B={row['budget']:<8.0e} seed {row['seed']} obs {row['observation']}"
    if "error" in row:
        return f"{head} {row['method']:<10} FAILED {row['error']}"
    return (
        f"{head} {row['method']:<10} sims {row['n_simulations']:>9,} eps {row['epsilon']:<9.3g}"
        f" c2st {row['c2st']:.3f} energy {row['energy']:.3f} {row['seconds']:6.1f} s"
        f" (+{row['metric_seconds']:.1f} s metrics)"
    )


if __name__ == "__main__":
    main()
