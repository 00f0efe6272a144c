"""Plots of a posterior: marginals with credible intervals, pairs, and the run's history.

matplotlib is imported inside the functions only, so abcspark imports without it. Figures are
built with ``matplotlib.figure.Figure`` (no pyplot state): they render inline in Jupyter and
save to PNG anywhere, including headless executors and spark-submit drivers.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

HISTORY_COLUMNS = (("epsilon", "epsilon"), ("acceptance_rate", "acceptance rate"), ("ess", "ESS"))


def plot_marginal(posterior: Any, name: str, ax: Any, level: float = 0.95, bins: int = 40) -> None:
    """Weighted histogram of one parameter with its mean and equal-tailed credible interval."""
    values = posterior.samples[name].to_numpy()
    ax.hist(values, bins=bins, weights=posterior.weights, density=True, color="#4c72b0", alpha=0.7)
    lower, upper = posterior.credible_interval(level).loc[name]
    ax.axvspan(lower, upper, color="#dd8452", alpha=0.2, label=f"{level:.0%} interval")
    ax.axvline(posterior.mean()[name], color="#c44e52", label="mean")
    ax.set_xlabel(name)
    ax.set_ylabel("density")


def plot_pair(posterior: Any, x: str, y: str, ax: Any) -> None:
    """Scatter of two parameters, point size by weight."""
    size = 8 * posterior.weights * len(posterior.weights)  # 8 for an equally weighted particle
    ax.scatter(
        posterior.samples[x],
        posterior.samples[y],
        s=np.clip(size, 1, 40),
        alpha=0.4,
        color="#4c72b0",
        edgecolors="none",
    )
    ax.set_xlabel(x)
    ax.set_ylabel(y)


def plot_history(posterior: Any, axes: Any) -> None:
    """Epsilon, acceptance rate and ESS per generation, one axis each."""
    history = posterior.history
    for ax, (column, label) in zip(axes, HISTORY_COLUMNS):
        ax.plot(history["generation"], history[column], marker="o", color="#55a868")
        ax.set_xlabel("generation")
        ax.set_ylabel(label)
        if (
            column == "epsilon"
            and (history[column] > 0).all()
            and np.isfinite(history[column]).all()
        ):
            ax.set_yscale("log")


def plot_posterior(
    posterior: Any,
    path: Optional[str] = None,
    *,
    level: float = 0.95,
    bins: int = 40,
    dpi: int = 100,
) -> Any:
    """One figure: marginals on the diagonal, pairs below it, the history underneath.

    Parameters
    ----------
    posterior : Posterior
    path : str, optional
        Where to write a PNG.
    level : float, default 0.95
        Credible interval shown on the marginals.
    bins : int, default 40
    dpi : int, default 100

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    names = posterior.names
    d = len(names)
    rows = d + (1 if len(posterior.history) else 0)
    cols = max(d, len(HISTORY_COLUMNS) if rows > d else 1)
    fig = Figure(figsize=(3.2 * cols, 2.8 * rows), dpi=dpi, layout="constrained")
    grid = fig.add_gridspec(rows, cols)
    for i, y in enumerate(names):
        for j, x in enumerate(names[: i + 1]):
            ax = fig.add_subplot(grid[i, j])
            if i == j:
                plot_marginal(posterior, x, ax, level, bins)
                if i == 0:
                    ax.legend(fontsize="small")
            else:
                plot_pair(posterior, x, y, ax)
    if rows > d:
        plot_history(posterior, [fig.add_subplot(grid[d, k]) for k in range(len(HISTORY_COLUMNS))])
    fig.suptitle(f"ABC posterior: {len(posterior.samples):,} particles, ESS {posterior.ess:,.0f}")
    if path is not None:
        fig.savefig(path)
    return fig
