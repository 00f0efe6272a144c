"""Plots of a posterior: marginals with credible intervals, pairs, and the run's history.

matplotlib is imported inside the functions only, so abcspark imports without it. Figures are
built with ``matplotlib.figure.Figure`` (no pyplot state), so they save to PNG anywhere,
including headless executors and spark-submit drivers. In IPython and Jupyter they also show
inline when they are a cell's result, with or without pyplot imported.
"""

from __future__ import annotations

import io
import math
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from abcspark.validation import positive_int

HISTORY_COLUMNS = (
    ("epsilon", "epsilon"),
    ("acceptance_rate", "acceptance rate"),
    ("ess", "effective sample size"),
)
BLUE, ORANGE, RED, GREEN, GREY = "#4c72b0", "#dd8452", "#c44e52", "#55a868", "#444444"


def default_bins(posterior: Any) -> int:
    """Histogram bins for the effective sample size: ``sqrt(ESS)``, between 10 and 50."""
    return int(min(50, max(10, round(math.sqrt(posterior.ess)))))


def plot_marginal(
    posterior: Any,
    name: str,
    ax: Any,
    level: float = 0.95,
    bins: Optional[int] = None,
    reference: Optional[float] = None,
    reference_label: str = "reference",
) -> None:
    """Weighted histogram of one parameter with its mean and equal-tailed credible interval.

    Parameters
    ----------
    posterior : Posterior
    name : str
        The parameter (a column of ``posterior.samples``).
    ax : matplotlib.axes.Axes
    level : float, default 0.95
        Probability of the shaded interval.
    bins : int, optional
        Default :func:`default_bins`.
    reference : float, optional
        A value to mark, e.g. the parameter that generated synthetic data.
    reference_label : str, default "reference"
        Its legend label.
    """
    values = posterior.samples[name].to_numpy()
    bins = default_bins(posterior) if bins is None else bins
    ax.hist(values, bins=bins, weights=posterior.weights, density=True, color=BLUE, alpha=0.75)
    lower, upper = posterior.credible_interval(level).loc[name]
    ax.axvspan(lower, upper, color=ORANGE, alpha=0.25, label=f"{level:.0%} credible interval")
    ax.axvline(posterior.mean()[name], color=RED, label="posterior mean")
    if reference is not None:
        ax.axvline(reference, color=GREY, linestyle="--", label=reference_label)
    ax.set_xlabel(name)
    ax.set_ylabel("density")


def plot_pair(
    posterior: Any, x: str, y: str, ax: Any, reference: Optional[Mapping[str, float]] = None
) -> None:
    """Scatter of two parameters, point size by weight, with the mean (and a reference) marked."""
    size = 8 * posterior.weights * len(posterior.weights)  # 8 for an equally weighted particle
    ax.scatter(
        posterior.samples[x],
        posterior.samples[y],
        s=np.clip(size, 1, 40),
        alpha=0.4,
        color=BLUE,
        edgecolors="none",
    )
    mean = posterior.mean()
    ax.plot(mean[x], mean[y], marker="+", markersize=12, mew=2, color=RED)
    if reference and x in reference and y in reference:
        ax.plot(reference[x], reference[y], marker="x", markersize=9, mew=2, color=GREY)
    ax.set_xlabel(x)
    ax.set_ylabel(y)


def plot_history(posterior: Any, axes: Sequence[Any]) -> None:
    """Epsilon, acceptance rate and effective sample size per generation, one axis each.

    Epsilon and the acceptance rate use a log scale when they span a factor of 10 or more:
    both usually fall by a roughly constant factor per generation. Generation 0's ``inf``
    epsilon (prior draws) is noted, not drawn. The ESS axis starts at 0.
    """
    from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter, StrMethodFormatter

    history = posterior.history
    generations = history["generation"].to_numpy()
    for ax, (column, label) in zip(axes, HISTORY_COLUMNS):
        values = history[column].to_numpy(dtype=np.float64)
        finite = np.isfinite(values)
        ax.plot(generations[finite], values[finite], marker="o", color=GREEN)
        ax.set_xlabel("generation")
        ax.set_ylabel(label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(generations.min() - 0.3, generations.max() + 0.3)
        shown = values[finite]
        if column == "ess":
            ax.set_ylim(0, 1.05 * shown.max() if len(shown) else 1)
        elif len(shown) and shown.min() > 0 and shown.max() >= 10 * shown.min():
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        if not finite.all():
            skipped = ", ".join(str(g) for g in generations[~finite])
            ax.set_title(f"generation {skipped}: {label} inf", fontsize="small", color=GREY)


def _summary_text(posterior: Any, level: float) -> str:
    interval = posterior.credible_interval(level)
    mean, sd = posterior.mean(), posterior.std()
    lines = [f"mean ± sd, {level:.0%} interval"]
    for name in posterior.names:
        lower, upper = interval.loc[name]
        lines.append(f"{name}: {mean[name]:.4g} ± {sd[name]:.2g}, [{lower:.4g}, {upper:.4g}]")
    return "\n".join(lines)


def _check_names(what: str, given: Sequence[str], names: Sequence[str]) -> None:
    unknown = [name for name in given if name not in names]
    if unknown:
        raise ValueError(
            f"{what} must name parameters of the posterior (got unknown {unknown}); "
            f"use some of {list(names)}."
        )


def _check_options(
    posterior: Any, names: Sequence[str], reference: Mapping[str, float], bins: Optional[int]
) -> None:
    _check_names("names", names, posterior.names)
    _check_names("reference", list(reference), posterior.names)
    if bins is not None:
        positive_int("bins", bins, "30")


def plot_posterior(
    posterior: Any,
    path: Optional[str] = None,
    *,
    level: float = 0.95,
    bins: Optional[int] = None,
    dpi: int = 100,
    names: Optional[Sequence[str]] = None,
    reference: Optional[Mapping[str, float]] = None,
    reference_label: str = "reference",
) -> Any:
    """One figure: marginals on the diagonal, pairs below it, the history underneath.

    Parameters
    ----------
    posterior : Posterior
    path : str, optional
        Where to write a PNG (a local file).
    level : float, default 0.95
        Credible interval shaded on the marginals and given in the summary text.
    bins : int, optional
        Histogram bins; default ``sqrt(ESS)`` between 10 and 50.
    dpi : int, default 100
        The figure is ``3.2 * max(d, 3)`` by ``2.8 * (d + 1)`` inches for ``d`` parameters.
    names : sequence of str, optional
        Parameters to show (default all), e.g. a few of many.
    reference : mapping of str to float, optional
        Values to mark with dashed lines and crosses, e.g. the true parameters of synthetic
        data or another method's estimates.
    reference_label : str, default "reference"
        The legend label of those marks, e.g. "truth".

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``names`` or ``reference`` name unknown parameters, or ``bins`` is not positive.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from abcspark import Posterior
    >>> draws = np.random.default_rng(0).normal(size=(500, 2))
    >>> post = Posterior(pd.DataFrame(draws, columns=["a", "b"]), np.ones(500), np.zeros(500))
    >>> fig = plot_posterior(post, reference={"a": 0.0})
    >>> [ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()]
    ['a', 'a', 'b']
    >>> [int(v) for v in fig.get_size_inches() * fig.dpi]
    [960, 560]
    """
    from matplotlib.figure import Figure

    names = list(posterior.names if names is None else names)
    reference = dict(reference or {})
    _check_options(posterior, names, reference, bins)
    d = len(names)
    history = len(posterior.history) > 1
    rows, cols = d + int(history), max(d, len(HISTORY_COLUMNS))
    fig = Figure(figsize=(3.2 * cols, 2.8 * rows), dpi=dpi, layout="constrained")
    grid = fig.add_gridspec(rows, cols)
    _plot_triangle(posterior, fig, grid, names, level, bins, reference, reference_label)
    _describe(posterior, level, fig.axes[0], fig.add_subplot(grid[0, 1:]))
    if history:
        plot_history(posterior, [fig.add_subplot(grid[d, k]) for k in range(len(HISTORY_COLUMNS))])
    fig.suptitle(_title(posterior))
    _show_inline(type(fig))
    if path is not None:
        fig.savefig(path)
    return fig


def _plot_triangle(
    posterior: Any,
    fig: Any,
    grid: Any,
    names: Sequence[str],
    level: float,
    bins: Optional[int],
    reference: Mapping[str, float],
    reference_label: str,
) -> None:
    """Marginals on the diagonal of ``grid``, pairs below it, added row by row."""
    for i, y in enumerate(names):
        for j, x in enumerate(names[: i + 1]):
            ax = fig.add_subplot(grid[i, j])
            if i == j:
                plot_marginal(posterior, x, ax, level, bins, reference.get(x), reference_label)
            else:
                plot_pair(posterior, x, y, ax, reference)


def _describe(posterior: Any, level: float, first: Any, corner: Any) -> None:
    """Legend and summary text in the first row's empty cells, right of the first marginal."""
    corner.axis("off")
    handles, labels = first.get_legend_handles_labels()
    corner.legend(handles, labels, loc="upper left", fontsize="small", frameon=False)
    corner.text(
        0.0, 0.0, _summary_text(posterior, level), va="bottom", family="monospace", fontsize="small"
    )


def _title(posterior: Any) -> str:
    title = f"ABC posterior: {len(posterior.samples):,} particles, ESS {posterior.ess:,.0f}"
    if len(posterior.history):
        title += (
            f", {len(posterior.history)} generation(s), {posterior.n_simulations:,} "
            f"simulations, epsilon {posterior.epsilon:.4g}"
        )
    return title


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _show_inline(figure_class: type) -> None:
    """Let IPython show a bare ``Figure`` result as a PNG.

    IPython registers its figure formatter only once pyplot is imported; a newcomer whose
    notebook never imports pyplot would otherwise see ``<Figure size ...>``. A formatter the
    user or pyplot already set (e.g. SVG, retina) is left alone.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    formatters = shell.display_formatter.formatters
    for mime, formatter in formatters.items():
        if mime == "text/plain":
            continue
        try:
            formatter.lookup_by_type(figure_class)
            return
        except KeyError:
            pass
    formatters["image/png"].for_type(figure_class, _png)
