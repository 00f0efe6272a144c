"""Plots of a :class:`~abcspark.calibration.Calibration`: coverage and SBC rank histograms.

Each panel shades the band a calibrated method stays within with the given probability:
binomial quantiles, computed here (no scipy needed). matplotlib is imported inside
:func:`plot_calibration` only, and figures are ``matplotlib.figure.Figure`` objects without
pyplot state, as in :mod:`abcspark.plots`.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import pandas as pd

from abcspark.plots import BLUE, GREY, _show_inline
from abcspark.validation import positive_int, real


def binomial_interval(n: int, p: Any, mass: float) -> np.ndarray:
    """Central ``mass`` interval of ``Binomial(n, p)`` for each ``p``, shape (2, len(p)).

    The smallest counts whose distribution function reaches ``(1 - mass) / 2`` and
    ``(1 + mass) / 2``, as ``scipy.stats.binom.ppf`` gives them.
    """
    k = np.arange(n + 1)
    log_choose = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1)))])
    log_choose = log_choose[n] - log_choose - log_choose[::-1]
    found = np.empty((2, len(p)), dtype=np.int64)
    for j, q in enumerate(np.asarray(p, dtype=np.float64)):  # one row at a time: n may be large
        with np.errstate(divide="ignore", invalid="ignore"):  # log(0) where q is 0 or 1: masked
            log_pmf = (
                log_choose
                + np.where(k > 0, k * np.log(q), 0.0)
                + np.where(k < n, (n - k) * np.log1p(-q), 0.0)
            )
        cdf = np.cumsum(np.exp(log_pmf))
        tolerance = 1e-9  # the cumulative sum's rounding, far below any probability shown
        found[0, j] = np.count_nonzero(cdf < (1 - mass) / 2 - tolerance)
        found[1, j] = np.count_nonzero(cdf < (1 + mass) / 2 - tolerance)
    return np.minimum(found, n)


def plot_calibration(
    calibration: Any,
    path: Optional[str] = None,
    *,
    bins: Optional[int] = None,
    band: float = 0.99,
    dpi: int = 100,
) -> Any:
    """The figure of :meth:`abcspark.calibration.Calibration.plot` (see there).

    Examples
    --------
    >>> from abcspark.calibration import Calibration
    >>> intervals = pd.DataFrame({"id": [0, 1, 2], "parameter": "mu", "truth": 0.0,
    ...     "rank": [0, 5, 9], "level": 0.5, "lower": -1.0, "upper": 1.0, "covered": True})
    >>> fig = plot_calibration(Calibration(intervals, n_samples=9), bins=3)
    >>> [int(bar.get_height()) for bar in fig.axes[1].patches[2:]]
    [1, 1, 1]
    """
    from matplotlib.figure import Figure

    band = real("band", band, 0, 1, open_low=True, open_high=True, example="0.99")
    ranks = calibration.ranks()
    n_truths, n_samples = len(ranks), calibration.n_samples
    if bins is None:
        bins = max(1, min(20, n_truths // 10, n_samples + 1))
    bins = positive_int("bins", bins, "20", high=n_samples + 1)
    panels = 1 + ranks.shape[1]
    cols = min(3, panels)
    rows = math.ceil(panels / cols)
    fig = Figure(figsize=(3.6 * cols, 2.8 * rows), dpi=dpi, layout="constrained")
    _plot_coverage(fig.add_subplot(rows, cols, 1), calibration.coverage(), band)
    for j, name in enumerate(ranks.columns):
        ax = fig.add_subplot(rows, cols, j + 2)
        _plot_ranks(ax, ranks[name].to_numpy(dtype=np.int64), n_samples, bins, band, name)
    fig.suptitle(f"Calibration: {n_truths:,} truths, {n_samples:,} posterior draws each")
    _show_inline(type(fig))
    if path is not None:
        fig.savefig(path)
    return fig


def _plot_coverage(ax: Any, coverage: pd.DataFrame, band: float) -> None:
    """Coverage per parameter against the level, on the diagonal's band."""
    n = int(coverage["n"].max())
    levels = np.linspace(0.0, 1.0, 201)
    lower, upper = binomial_interval(n, levels, band) / n
    ax.fill_between(
        levels, lower, upper, color=GREY, alpha=0.2, linewidth=0, label=f"{band:.0%} if calibrated"
    )
    ax.plot([0, 1], [0, 1], color=GREY, linestyle="--", linewidth=1)
    for name, rows in coverage.groupby("parameter", sort=False):
        ax.plot(rows["level"], rows["coverage"], marker="o", label=name)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("nominal level")
    ax.set_ylabel(f"coverage ({n:,} truths)")
    ax.set_title("coverage of central intervals")
    ax.legend(fontsize="small", loc="upper left")


def _plot_ranks(
    ax: Any, ranks: np.ndarray, n_samples: int, bins: int, band: float, name: str
) -> None:
    """Counts of ranks per bin, with each bin's band and expected count under uniform ranks."""
    n_values = n_samples + 1  # ranks 0 .. n_samples
    starts = -(-np.arange(bins + 1) * n_values // bins)  # the first rank of each bin, and an end
    widths = np.diff(starts)
    counts = np.bincount(ranks * bins // n_values, minlength=bins)
    edges = starts - 0.5
    lower, upper = binomial_interval(len(ranks), widths / n_values, band)
    ax.stairs(
        upper,
        edges,
        baseline=lower,
        fill=True,
        color=GREY,
        alpha=0.2,
        label=f"{band:.0%} if uniform",
    )
    ax.stairs(len(ranks) * widths / n_values, edges, color=GREY, linestyle="--")
    ax.bar(edges[:-1], counts, width=widths, align="edge", color=BLUE, alpha=0.75)
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel(f"rank of the truth among {n_samples:,} draws")
    ax.set_ylabel(f"truths ({bins} bins)")
    ax.set_title(f"SBC ranks of {name}")
