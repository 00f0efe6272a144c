"""Discrete and mixed parameters (issue 18): abcspark's PMC beside pyABC, against exact posteriors.

Run from the repository root with the project's virtual environment::

    nice -n 5 .venv/bin/python benchmarks/discrete.py --quick
    nice -n 5 .venv/bin/python benchmarks/discrete.py --budgets 1e3 1e4 1e5 --seeds 5
    nice -n 5 .venv/bin/python benchmarks/discrete.py --report

For every model of ``discrete_models`` (``events``: k ~ Poisson(3) and a continuous
log_scale; ``category``: a Categorical over 5 values), observation, budget B and seed it runs:

``pyabc``         pyABC 0.13's ``ABCSMC``, ``AggregatedTransition`` of a
                  ``DiscreteJumpTransition`` for the integer and the default
                  ``MultivariateNormalTransition`` for the continuous parameter (in its own
                  python through ``case.py``, ``peer_pyabc_discrete``), budget
                  ``max_total_nr_simulations=B``, which it overshoots;
``pmc-at-pyabc``  abcspark's ``PMCABC`` at its defaults (Silverman kernel beside a
                  ``DiscreteRandomWalk``) given exactly the simulations pyABC's run of the same
                  key used: the fair pairing;
``pmc``           the same with B simulations;
``pmc-walk0.5``   the same at pyABC's count with a narrower walk for the integer,
                  ``DiscreteRandomWalk(scale=0.5, min_width=0.5)`` (the default is 1.0,
                  1.0): it keeps a particle's value with probability 0.79 instead of 0.40;
``pmc-jump``      the same at pyABC's count with ``DiscreteJump(stay=0.7)`` for the integer:
                  keep the value with 0.7, else jump to another, each alike (pyABC's jump);
``pmc-b-walk0.5``, ``pmc-b-jump``  those two kernels with B simulations, beside ``pmc``
                  (no pyABC run needed: many seeds are cheap);
``rejection``     abcspark's ``RejectionABC`` keeping the closest N of B;
``pyabc-walk``    pyABC with ``DiscreteRandomWalkTransition`` instead of the jump (not run
                  by default: its density is a Python loop over particles, minutes per run);
``exact-N``       N independent exact draws: the Monte Carlo floor of a population of N.

N, the population, is ``N_PARTICLES[B]`` for all (as in ``accuracy.py``). Figures of each
weighted population against the exact posterior (``exact`` of the model), with no smoothing:
``tv``, the total variation distance of the integer parameter's marginal; ``mean_error`` and
``sd_error``, the continuous parameter's weighted mean and sd minus the exact ones, in exact
posterior sds. Writes ``benchmarks/out/discrete.csv`` (a row per run; ``--append`` keeps
earlier rows, replacing those run again) and ``discrete.md`` (means and sds over seeds, and
paired wins of one method over another on the same seed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binomtest

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from discrete_models import MODELS, DiscreteModel, Exact  # noqa: E402
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

N_PARTICLES = {10**3: 100, 10**4: 300, 10**5: 1000}
"""Population per budget (``accuracy.py``'s): abcspark's ``n_particles``, pyABC's
``population_size``, the N of rejection's closest N of B."""

METHODS = (
    "pyabc",
    "pmc-at-pyabc",
    "pmc",
    "pmc-walk0.5",
    "pmc-jump",
    "pmc-b-walk0.5",
    "pmc-b-jump",
    "rejection",
    "pyabc-walk",
    "exact-N",
)
DEFAULT_METHODS = ("pyabc", "pmc-at-pyabc", "pmc", "pmc-walk0.5", "rejection", "exact-N")
WALK_HALF = ("walk", {"scale": 0.5, "min_width": 0.5})
JUMP = ("jump", {"stay": 0.7})
DISCRETE_KERNELS = {
    "pmc-walk0.5": WALK_HALF,
    "pmc-b-walk0.5": WALK_HALF,
    "pmc-jump": JUMP,
    "pmc-b-jump": JUMP,
}
"""The discrete kernel per method, ``(kind, options)`` (none: ``DiscreteRandomWalk()``)."""
AT_PYABC = ("pmc-at-pyabc", "pmc-walk0.5", "pmc-jump")
"""abcspark's methods given the simulations of pyABC's run of the same key."""
PYABC_TRANSITION = {"pyabc": "jump", "pyabc-walk": "walk"}
KEY = ("method", "model", "budget", "seed", "observation")
"""What names one run; a rerun of the same key replaces its row."""

PAIRS = (
    ("pmc-at-pyabc", "pyabc"),
    ("pmc", "pyabc"),
    ("pmc", "rejection"),
    ("pyabc", "rejection"),
    ("pmc-at-pyabc", "pyabc-walk"),
    ("pmc-walk0.5", "pyabc"),
    ("pmc-walk0.5", "pmc-at-pyabc"),
    ("pmc-jump", "pyabc"),
    ("pmc-jump", "pmc-at-pyabc"),
    ("pmc-jump", "pmc-walk0.5"),
    ("pmc-b-walk0.5", "pmc"),
    ("pmc-b-jump", "pmc"),
    ("pmc-b-jump", "pmc-b-walk0.5"),
)
"""Paired comparisons in the report: (a, b), how often a is closer than b on the same seed."""


def abcspark_prior(model: DiscreteModel):
    from abcspark import Categorical, Normal, Poisson, Prior

    families = {"poisson": Poisson, "normal": Normal}
    named = {}
    for name, family, args in model.prior:
        if family == "categorical":
            named[name] = Categorical(np.asarray(args))
        else:
            named[name] = families[family](*args)
    return Prior(**named)


def discrete_kernel(method: str):
    """The discrete kernel ``DISCRETE_KERNELS`` gives ``method``."""
    from abcspark.discrete_kernels import DiscreteJump, DiscreteRandomWalk

    kind, options = DISCRETE_KERNELS.get(method, ("walk", {}))
    return (DiscreteJump if kind == "jump" else DiscreteRandomWalk)(**options)


def run_abcspark(method: str, model: DiscreteModel, observed, budget: int, seed: int, n: int):
    """``PMCABC`` at its defaults (its discrete kernel as ``DISCRETE_KERNELS`` says), or
    ``RejectionABC`` closest ``n`` of ``budget``."""
    from abcspark import PMCABC, RejectionABC

    started = time.perf_counter()
    if method == "rejection":
        abc = RejectionABC(abcspark_prior(model), model.simulate, engine="numpy")
        post = abc.run(observed, quantile=n / budget, n_simulations=budget, seed=seed)
    else:
        pmc = PMCABC(
            abcspark_prior(model),
            model.simulate,
            n_particles=n,
            generations=10**6,
            max_simulations=budget,
            discrete_kernel=discrete_kernel(method),
            engine="numpy",
            progress=False,
        )
        post = pmc.run(observed, seed=seed)
    return {
        "seconds": time.perf_counter() - started,
        "n_simulations": int(post.n_simulations),
        "generations": len(post.history),
        "epsilon": float(post.epsilon),
        "particles": post.samples[model.names].to_numpy(),
        "weights": np.asarray(post.weights),
    }


def run_pyabc(method, model, observation, budget, seed, args) -> dict:
    kwargs = dict(
        model=model.name,
        observation=observation,
        budget=budget,
        n_particles=N_PARTICLES[budget],
        seed=seed,
        transition=PYABC_TRANSITION[method],
    )
    out = run_case("peer_pyabc_discrete.smc", kwargs, args.python, timeout=args.timeout)
    out["particles"], out["weights"] = np.asarray(out["particles"]), np.asarray(out["weights"])
    out.pop("process_seconds", None)
    return out


def run_exact(exact: Exact, n: int, seed: int) -> dict:
    particles = exact.draw(n, np.random.default_rng(8_000 + seed))
    return {
        "n_simulations": 0,
        "epsilon": 0.0,
        "seconds": 0.0,
        "particles": particles,
        "weights": np.ones(n),
    }


def measure(model: DiscreteModel, exact: Exact, particles, weights) -> dict:
    """TV of the integer marginal; the continuous one's mean and sd errors in exact sds."""
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    k = np.rint(particles[:, 0]).astype(np.int64)
    values = np.union1d(exact.values, k)
    got = np.array([w[k == v].sum() for v in values])
    want = np.zeros(len(values))
    want[np.searchsorted(values, exact.values)] = exact.probs
    out = {"tv": 0.5 * float(np.abs(got - want).sum()), "ess": float(1.0 / (w**2).sum())}
    if exact.mean is not None:
        u = particles[:, 1]
        mean = float(w @ u)
        sd = float(np.sqrt(w @ (u - mean) ** 2))
        out["mean_error"] = (mean - exact.mean) / exact.sd
        out["sd_error"] = (sd - exact.sd) / exact.sd
    return out


def run_method(method, model, observation, budget, seed, args, rows) -> dict:
    """One run's figures; a failure is a row too, with its error."""
    observed, exact = model.observed(observation), model.exact(model.observed(observation))
    n = N_PARTICLES[budget]
    try:
        if method in PYABC_TRANSITION:
            result = run_pyabc(method, model, observation, budget, seed, args)
        elif method == "exact-N":
            result = run_exact(exact, n, seed)
        else:
            if method in AT_PYABC:
                budget = pyabc_simulations(rows, model.name, observation, budget, seed)
            result = run_abcspark(method, model, observed, budget, seed, n)
    except Exception as exc:  # noqa: BLE001 (any failure of a tool is a finding)
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return {**result, **measure(model, exact, result.pop("particles"), result.pop("weights"))}


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1e3 only, 2 seeds")
    parser.add_argument("--budgets", nargs="+", type=float, default=[1e3, 1e4])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(DEFAULT_METHODS))
    add_grid_options(parser, seeds=5, observations=1, timeout=1800)
    args = parser.parse_args(argv)
    if args.quick:
        args.budgets, args.seeds = [1e3], 2
    args.budgets = known_budgets(parser, args.budgets, N_PARTICLES)
    # pmc-at-pyabc reads the simulations of pyABC's run: pyABC runs first.
    args.methods = sorted(set(args.methods), key=METHODS.index)
    return args


def main(argv=None) -> None:
    args = parse(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    csv = OUT / "discrete.csv"
    rows = pd.read_csv(csv) if (args.append or args.report) and csv.exists() else pd.DataFrame()
    if args.report:
        write_report(rows, OUT)
        return
    started = time.perf_counter()
    wants_pyabc = any(m in PYABC_TRANSITION for m in args.methods)
    args.python = peer_python("pyabc") if wants_pyabc else None
    for budget, model, observation, seed, method in cases(args, MODELS):
        result = run_method(method, model, observation, budget, seed, args, rows)
        key = dict(method=method, model=model.name, budget=budget, seed=seed)
        row = {**key, "observation": observation, "n_particles": N_PARTICLES[budget], **result}
        row["load"] = os.getloadavg()[0]
        print(_line(row), flush=True)
        rows = replace_row(rows, row, KEY)
        rows.to_csv(csv, index=False)
    write_report(rows, OUT)
    print(f"done in {time.perf_counter() - started:.0f} s; tables in {OUT}", flush=True)


def _line(row: dict) -> str:
    head = f"{row['model']:<8} B={row['budget']:<6.0e} seed {row['seed']} obs {row['observation']}"
    if "error" in row:
        return f"{head} {row['method']:<12} FAILED {row['error']}"
    continuous = ""
    if "mean_error" in row:
        continuous = f" mean {row['mean_error']:+.3f} sd {row['sd_error']:+.3f}"
    return (
        f"{head} {row['method']:<12} sims {row['n_simulations']:>7,} eps {row['epsilon']:<8.3g}"
        f" tv {row['tv']:.3f}{continuous} ess {row['ess']:6.0f} {row['seconds']:6.1f} s"
    )


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Means and sds over seeds (and observations) per model, budget and method."""
    ok = rows[rows["error"].isna()] if "error" in rows else rows
    missing = [c for c in ("mean_error", "sd_error") if c not in ok]  # only discrete models
    ok = ok.reindex(columns=[*ok.columns, *missing])
    ok = ok.assign(abs_mean=ok["mean_error"].abs(), abs_sd=ok["sd_error"].abs())
    table = ok.groupby(["model", "budget", "method"]).agg(
        runs=("seed", "size"),
        simulations=("n_simulations", "mean"),
        epsilon=("epsilon", "mean"),
        tv=("tv", "mean"),
        tv_sd=("tv", "std"),
        mean_error=("abs_mean", "mean"),
        mean_error_sd=("abs_mean", "std"),
        sd_error=("abs_sd", "mean"),
        sd_error_sd=("abs_sd", "std"),
        sd_bias=("sd_error", "mean"),
        ess=("ess", "mean"),
        seconds=("seconds", "mean"),
    )
    table = table.reset_index()
    table["order"] = table["method"].map(METHODS.index)
    return table.sort_values(["model", "budget", "order"]).drop(columns="order")


def wins(rows: pd.DataFrame) -> list:
    """Markdown rows: per pair, model and budget, seeds on which a beats b, per figure."""
    ok = rows[rows["error"].isna()] if "error" in rows else rows
    lines = []
    for a, b in PAIRS:
        for (model, budget), group in ok.groupby(["model", "budget"]):
            left = group[group["method"] == a].set_index(["observation", "seed"])
            right = group[group["method"] == b].set_index(["observation", "seed"])
            both = left.index.intersection(right.index)
            if not len(both):
                continue
            cells = []
            for figure in ("tv", "mean_error", "sd_error", "epsilon"):
                if figure not in group or group[figure].isna().all():
                    cells.append("")
                    continue
                x, y = left.loc[both, figure].abs(), right.loc[both, figure].abs()
                won = int((x < y).sum())
                # two-sided sign test: how surprising the split is if neither is better
                p = binomtest(won, len(both)).pvalue
                cells.append(f"{won}/{len(both)} (p {p:.2g})")
            lines.append(f"| {a} vs {b} | {model} | {budget:.0e} | " + " | ".join(cells) + " |")
    return lines


def exact_lines(rows: pd.DataFrame) -> list:
    """One line per model and observation: the exact posterior the runs are measured against."""
    lines = []
    for (name, observation), _ in rows.groupby(["model", "observation"]):
        model = MODELS[name]
        observed = model.observed(int(observation))
        exact = model.exact(observed)
        likely = exact.probs > 0.005
        probs = ", ".join(
            f"{v}: {p:.3f}" for v, p in zip(exact.values[likely], exact.probs[likely])
        )
        line = f"- {name}, observation {observation} ({np.round(observed, 3).tolist()}): "
        line += f"P({model.names[0]}) {{{probs}}}"
        if exact.mean is not None:
            line += f"; {model.names[1]} mean {exact.mean:.3f} sd {exact.sd:.3f}"
        lines.append(line)
    return lines


def _cell(mean: float, sd: float) -> str:
    return "" if pd.isna(mean) else f"{mean:.3f} ± {0 if pd.isna(sd) else sd:.3f}"


def write_report(rows: pd.DataFrame, out: Path) -> None:
    table = summary(rows)
    lines = ["# Discrete and mixed parameters against the exact posterior", ""]
    lines += ["Exact posteriors (enumeration, a grid over the continuous parameter):", ""]
    lines += exact_lines(rows) + ["", "## Means ± sds over seeds", ""]
    lines += [
        "TV: total variation distance of the integer marginal (0 exact). Mean and sd error: "
        "|weighted - exact| of the continuous parameter's posterior mean and sd, in exact "
        "posterior sds; sd bias: the signed sd error's mean (< 0: too narrow).",
        "",
        "| model | budget | method | runs | simulations | epsilon | TV | mean error "
        "| sd error | sd bias | ESS | seconds |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in table.itertuples():
        bias = "" if pd.isna(r.sd_bias) else f"{r.sd_bias:+.3f}"
        lines.append(
            f"| {r.model} | {r.budget:.0e} | {r.method} | {r.runs} | {r.simulations:,.0f} | "
            f"{r.epsilon:.3g} | {_cell(r.tv, r.tv_sd)} | {_cell(r.mean_error, r.mean_error_sd)}"
            f" | {_cell(r.sd_error, r.sd_error_sd)} | {bias} | {r.ess:,.0f} | {r.seconds:.1f} |"
        )
    lines += ["", "## Paired wins (a closer than b on the same seed and observation)", ""]
    lines += [
        "Smaller |figure| wins (for epsilon: the smaller final epsilon). p: two-sided sign "
        "test of the split (ties count as losses).",
        "",
        "| a vs b | model | budget | TV | mean error | sd error | epsilon |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += wins(rows)
    (out / "discrete.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
