"""Calibration of rejection ABC on a reference table: coverage and SBC ranks over many truths.

The table's last batches are held out: each of their first ``n_truths`` rows is a
pseudo-observed dataset whose true parameters are known. The rest of the table is the
reference: one Spark job finds every truth's ``n_samples`` nearest reference rows
(:mod:`abcspark.table_search`) and, per truth in ``groupBy(id).applyInPandas``, the central
credible intervals of each parameter (as ``Posterior.credible_interval`` computes them) and
the simulation-based-calibration rank of the truth among the posterior draws. Only those small
rows reach the driver.

For a calibrated method, the share of truths inside their ``level`` interval is ``level``, and
the ranks are uniform on ``0 .. n_samples`` (Talts et al. 2018); :meth:`Calibration.plot` shows
both (:mod:`abcspark.calibration_plots`).

References
----------
Talts, S., Betancourt, M., Simpson, D., Vehtari, A. and Gelman, A. (2018). Validating Bayesian
inference algorithms with simulation-based calibration. arXiv:1804.06788.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from abcspark.table_inference import TableRejectionABC
from abcspark.table_results import described
from abcspark.table_search import Search
from abcspark.validation import normalised_weights, positive_int, real
from abcspark.weighted import quantile


@dataclass(frozen=True)
class Calibration:
    """Coverage of central credible intervals and SBC ranks over ``n_truths`` known truths.

    Attributes
    ----------
    intervals : pandas.DataFrame
        ``id, parameter, truth, rank, level, lower, upper, covered``: one row per truth,
        parameter and level; ``rank`` is the number of posterior draws below the truth.
    n_samples : int
        Posterior draws per truth, so ranks lie in ``0 .. n_samples``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> intervals = pd.DataFrame({"id": np.arange(200), "parameter": "mu", "truth": 0.0,
    ...     "rank": rng.integers(0, 101, 200), "level": 0.9, "lower": -1.0, "upper": 1.0,
    ...     "covered": rng.random(200) < 0.9})
    >>> found = Calibration(intervals, n_samples=100)
    >>> found.coverage()[["parameter", "level", "n"]].values.tolist()
    [['mu', 0.9, 200]]
    >>> fig = found.plot()
    >>> [ax.get_title() for ax in fig.axes]
    ['coverage of central intervals', 'SBC ranks of mu']
    """

    intervals: pd.DataFrame
    n_samples: int

    def coverage(self) -> pd.DataFrame:
        """Per parameter and level: ``coverage``, ``n`` truths and its Monte Carlo ``sd``.

        ``sd`` is the binomial standard error at the nominal level, ``sqrt(level (1 - level)
        / n)``: a calibrated method's coverage lies within a few of them of ``level``.
        """
        table = self.intervals.groupby(["parameter", "level"], sort=False)["covered"]
        found = table.agg(coverage="mean", n="size").reset_index()
        found["sd"] = np.sqrt(found["level"] * (1 - found["level"]) / found["n"])
        return found

    def ranks(self) -> pd.DataFrame:
        """The SBC rank of every truth: one row per truth, one column per parameter."""
        first = self.intervals.drop_duplicates(["id", "parameter"])
        return first.pivot(index="id", columns="parameter", values="rank")

    def plot(
        self,
        path: Optional[str] = None,
        *,
        bins: Optional[int] = None,
        band: float = 0.99,
        dpi: int = 100,
    ) -> Any:
        """Coverage against the nominal level, and a rank histogram per parameter, each with
        the band a calibrated method stays within.

        Parameters
        ----------
        path : str, optional
            Where to write a PNG (a local file).
        bins : int, optional
            Bins of the rank histograms; default ``n_truths // 10`` between 1 and 20 (at most
            ``n_samples + 1``). Bin ``b`` holds the ranks ``r`` with
            ``r * bins // (n_samples + 1) == b``.
        band : float, default 0.99
            Probability of the shaded band: per level, the central interval of the coverage of
            ``n`` truths, ``Binomial(n, level) / n``; per bin, that of its count under uniform
            ranks, ``Binomial(n_truths, width / (n_samples + 1))`` (Talts et al. use 0.99).
        dpi : int, default 100
            Each panel is 3.6 by 2.8 inches, up to three a row.

        Returns
        -------
        matplotlib.figure.Figure
            The coverage panel first, then one histogram per parameter.

        Raises
        ------
        ValueError
            If ``bins`` is not in ``1 .. n_samples + 1`` or ``band`` not in (0, 1).
        """
        from abcspark.calibration_plots import plot_calibration

        return plot_calibration(self, path, bins=bins, band=band, dpi=dpi)


def calibrate(
    abc: TableRejectionABC,
    n_truths: int,
    n_samples: int,
    levels: Sequence[float] = (0.5, 0.8, 0.9, 0.95),
) -> Calibration:
    """Coverage and SBC ranks of ``abc.run(observed, n_samples=n_samples)`` on held-out rows.

    Parameters
    ----------
    abc : TableRejectionABC
        The table and distance to calibrate.
    n_truths : int
        Pseudo-observed datasets: the first rows of the table's last ``ceil(n_truths /
        batch_size)`` batches, which the reference (the batches before) never holds.
    n_samples : int
        Nearest reference rows per truth: its posterior draws.
    levels : sequence of float, default (0.5, 0.8, 0.9, 0.95)
        Credible levels of the central intervals.

    Returns
    -------
    Calibration

    Raises
    ------
    ValueError
        If the table has too few batches for the truths and the reference, or a level is not
        in (0, 1).
    """
    table = abc.table
    n_truths = positive_int("n_truths", n_truths, "200")
    n_samples = positive_int("n_samples", n_samples, "100")
    levels = [real("levels", v, 0, 1, open_low=True, open_high=True) for v in levels]
    held = math.ceil(n_truths / table.batch_size)
    reference = table.n_batches - held
    if reference * table.batch_size < n_samples:
        raise ValueError(
            f"the table must hold n_samples={n_samples:,} reference rows besides the "
            f"n_truths={n_truths:,} truths' {held} batches (got {table.n:,} simulations); "
            "extend the table, or ask for fewer."
        )
    truths = table.simulations()
    truths = truths.where(truths["batch"] >= reference).toPandas()  # also on Connect
    truths = truths.sort_values(["batch", "index"], kind="mergesort").head(n_truths)
    ids = np.arange(len(truths))
    search = Search(
        truths[table.statistics].to_numpy(), ids, table.statistics, abc.fitted(reference), n_samples
    )
    summary = _Summary(search, truths[table.names].to_numpy(), table.names, tuple(levels))
    schema = (
        "id long, parameter string, truth double, rank long, level double, lower double, "
        "upper double, covered boolean"
    )
    candidates = abc.candidates(search, "long", reference)
    # A function of one argument: Spark passes the key too to one of two (self too).
    rows = candidates.groupBy("id").applyInPandas(lambda group: summary.of(group), schema)
    with described(table.spark, f"abcspark calibration of {table.uri}"):
        found = rows.toPandas().sort_values(["id", "parameter", "level"], kind="mergesort")
    return Calibration(found.reset_index(drop=True), n_samples)


@dataclass(frozen=True)
class _Summary:
    """What one truth's neighbours say: its intervals and ranks (``applyInPandas``)."""

    search: Search
    truths: np.ndarray
    names: list
    levels: tuple

    def of(self, group: pd.DataFrame) -> pd.DataFrame:
        best = self.search.merge(group)
        truth = self.truths[int(best["id"].iloc[0])]
        weights = normalised_weights(np.ones(len(best)), len(best))  # as a Posterior's
        rows = []
        for j, name in enumerate(self.names):
            draws = best[name].to_numpy()
            rank = int(np.count_nonzero(draws < truth[j]))
            for level in self.levels:
                lower, upper = quantile(draws, weights, [(1 - level) / 2, (1 + level) / 2])
                covered = bool(lower <= truth[j] <= upper)
                rows.append(
                    (best["id"].iloc[0], name, truth[j], rank, level, lower, upper, covered)
                )
        columns = ["id", "parameter", "truth", "rank", "level", "lower", "upper", "covered"]
        return pd.DataFrame(rows, columns=columns)
