"""The accuracy benchmark's tables and plot, from the rows of ``accuracy.csv``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from accuracy_methods import METHODS

KEY = ("method", "model", "budget", "seed", "observation", "draws_from")
"""What names one run; a rerun of the same key replaces its row."""

ORDER = METHODS


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Means over seeds and observations per model, budget and method (failed runs counted)."""
    if rows["draws_from"].nunique() > 1:  # several ways of drawing: say which on each line
        other = rows["draws_from"] != "benchmark KDE"
        label = rows["method"] + " [" + rows["draws_from"].astype(str) + "]"
        rows = rows.assign(method=rows["method"].where(~other, label))
    ok = rows[rows["error"].isna()] if "error" in rows else rows
    groups = ["model", "budget", "method"]
    table = ok.groupby(groups).agg(
        runs=("seed", "size"),
        simulations=("n_simulations", "mean"),
        epsilon=("epsilon", "mean"),
        c2st=("c2st", "mean"),
        c2st_sd=("c2st", "std"),
        energy=("energy", "mean"),
        mean_error=("mean_error", "mean"),
        seconds=("seconds", "mean"),
    )
    failed = rows.groupby(groups).size() - table["runs"].reindex(rows.groupby(groups).size().index)
    table = table.reindex(failed.index)
    table["failed"] = failed.fillna(rows.groupby(groups).size()).astype(int)
    table = table.reset_index()
    table["order"] = table["method"].map(lambda m: _rank(m))
    return table.sort_values(["model", "budget", "order"]).drop(columns="order")


def _rank(method: str) -> float:
    base = method.split(" [")[0]
    return ORDER.index(base) + (0.5 if base != method else 0) if base in ORDER else len(ORDER)


def markdown(table: pd.DataFrame, state: dict) -> str:
    lines = [
        "# Accuracy against the exact posterior",
        "",
        f"abcspark at {state.get('commit', '?')}; "
        f"10,000 draws of each population by {state.get('draws', '?')}. C2ST 0.5 is exact, "
        "1.0 fully separated "
        "(10,000 draws each side); energy distance and mean error (RMS over parameters, in "
        "exact posterior sds) on the same z-scored draws; means over seeds and observations.",
        "",
        "## C2ST (simulations used) per model and budget",
        "",
    ]
    lines += _pivot(table)
    lines += ["", "## Each method against the default PMC", ""] + _ranking(table)
    lines += [
        "",
        "## Every figure",
        "",
        "| model | budget | method | runs | failed | simulations used | final epsilon | C2ST "
        "| C2ST sd | energy | mean error | seconds |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.model} | {r.budget:.0e} | {r.method} | {r.runs} | {r.failed} | "
            f"{_int(r.simulations)} | {r.epsilon:.3g} | {_two(r.c2st)} | {_two(r.c2st_sd)} | "
            f"{_two(r.energy, 3)} | {_two(r.mean_error)} | {r.seconds:.1f} |"
        )
    return "\n".join(lines) + "\n"


def _pivot(table: pd.DataFrame) -> list:
    methods = sorted(set(table["method"]), key=_rank)
    lines = [
        "| model | budget | " + " | ".join(methods) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in methods) + " |",
    ]
    for (model, budget), part in table.groupby(["model", "budget"], sort=True):
        cells = []
        for method in methods:
            found = part[part["method"] == method]
            if found.empty or found["runs"].iloc[0] == 0:
                cells.append("-")
                continue
            r = found.iloc[0]
            value = _two(r.c2st) if np.isfinite(r.c2st) else f"E {_two(r.energy, 3)}"
            cells.append(f"{value} ({_int(r.simulations)})")
        lines.append(f"| {model} | {budget:.0e} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("`E x`: no C2ST for this model (see `--c2st-max-dim`); the energy distance.")
    return lines


def _ranking(table: pd.DataFrame) -> list:
    """Per method, over the cells (model, budget) where it and ``pmc`` both ran: how it compares.

    The score of a cell is its C2ST, or the energy distance where there is none (as in the
    pivot); the rank is among the methods of the cell other than ``exact-N`` (1 is best), so
    compare ranks of methods run on the same cells. Ratios to ``pmc`` are geometric means.
    """
    table = table[(table["runs"] > 0) & ~table["method"].str.startswith("exact-N")]
    table = table.assign(score=table["c2st"].where(np.isfinite(table["c2st"]), table["energy"]))
    table["rank"] = table.groupby(["model", "budget"])["score"].rank()
    default = table[table["method"] == "pmc"].set_index(["model", "budget"])
    lines = [
        "| method | cells | mean rank | better than pmc | energy / pmc | mean error / pmc "
        "| C2ST (2-D cells) | pmc's C2ST there |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for method in sorted(set(table["method"]), key=_rank):
        part = table[table["method"] == method].set_index(["model", "budget"])
        part = part[part.index.isin(default.index)]
        base = default.loc[part.index]
        two_d = np.isfinite(part["c2st"])
        lines.append(
            f"| {method} | {len(part)} | {part['rank'].mean():.2f} | "
            f"{(part['score'] < base['score']).sum()} | "
            f"{_geomean(part['energy'] / base['energy'])} | "
            f"{_geomean(part['mean_error'] / base['mean_error'])} | "
            f"{_two(part['c2st'][two_d].mean(), 3)} | {_two(base['c2st'][two_d].mean(), 3)} |"
        )
    lines.append("")
    lines.append("Lower is better in every column but the count of cells better than pmc.")
    return lines


def _geomean(ratios: pd.Series) -> str:
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    return "-" if ratios.empty else f"{np.exp(np.log(ratios).mean()):.2f}"


def _two(value: float, digits: int = 2) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _int(value: float) -> str:
    return "-" if not np.isfinite(value) else f"{value:,.0f}"


def plot(table: pd.DataFrame, path: Path) -> None:
    """C2ST (or the energy distance where there is none) against simulations used, log x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted(set(table["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.6), squeeze=False)
    for ax, model in zip(axes[0], models):
        part = table[table["model"] == model]
        metric = "c2st" if np.isfinite(part["c2st"]).any() else "energy"
        for method in sorted(set(part["method"]), key=_rank):
            line = part[part["method"] == method].sort_values("budget")
            if method.startswith("exact-N"):  # no simulations: drawn at the budget's N
                ax.plot(line["budget"], line[metric], "k--", marker="x", lw=0.8, label=method)
            else:
                ax.plot(line["simulations"], line[metric], marker="o", label=method)
        ax.set_xscale("log")
        ax.set_title(model)
        ax.set_xlabel("simulations used")
        ax.set_ylabel("C2ST accuracy" if metric == "c2st" else "energy distance")
        if metric == "c2st":
            ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(rows: pd.DataFrame, out: Path, state: dict) -> None:
    """``accuracy.md`` and ``accuracy.png`` in ``out`` from every row so far."""
    if "error" not in rows:
        rows = rows.assign(error=np.nan)
    commits = rows["commit"].astype(str).str.split().str[0].value_counts()
    state = {
        **state,
        "commit": ", ".join(f"`{c}` ({n} runs)" for c, n in commits.items()),
        "draws": " and ".join(sorted(set(rows["draws_from"].astype(str)))),
    }
    table = summary(rows)
    (out / "accuracy.md").write_text(markdown(table, state))
    plot(table, out / "accuracy.png")
