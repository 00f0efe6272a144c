"""The result of a posterior predictive check: simulated statistics, p-values, a plot.

:func:`abcspark.predictive.predict` (``posterior.predict``) makes a :class:`PredictiveCheck`.
matplotlib is imported by :func:`plot_check` only, so abcspark imports without it.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import pandas as pd

from abcspark.validation import check_observed, positive_int


class PredictiveCheck:
    """Simulations from the posterior predictive distribution and their p-values.

    Parameters
    ----------
    statistics : pandas.DataFrame, shape (m, d + k)
        One row per simulation: its ``d`` parameters, then ``_stat_0`` ... ``_stat_{k-1}``.
    names : list of str
        The parameter columns of ``statistics``.
    observed : ndarray, shape (k,), optional
        The observed statistics the p-values compare with.
    metadata : dict, optional
        Seed, ``n``, batch size, engine, parallelism and ``n_failed`` of :func:`predict`.

    Examples
    --------
    >>> frame = pd.DataFrame({"mu": [0.0, 0.0, 1.0, 1.0], "_stat_0": [0.1, 0.4, 0.9, 1.3]})
    >>> check = PredictiveCheck(frame, ["mu"], observed=[1.0])
    >>> check.p_values()[["p_value", "p_two_sided"]].to_numpy().tolist()
    [[0.25, 0.5]]
    """

    def __init__(
        self,
        statistics: pd.DataFrame,
        names: list,
        observed: Any = None,
        metadata: Optional[dict] = None,
    ):
        self.statistics, self.names = statistics, list(names)
        self.metadata = dict(metadata or {})
        self.observed = None
        if observed is not None:
            self.observed = self._observed(observed)

    @property
    def statistic_names(self) -> list:
        """The statistic columns of :attr:`statistics`, ``_stat_0`` ... ``_stat_{k-1}``."""
        return [c for c in self.statistics.columns if c not in self.names]

    def p_values(self, observed: Any = None) -> pd.DataFrame:
        """Posterior predictive p-values, one row per statistic.

        Parameters
        ----------
        observed : array_like, shape (k,), optional
            Default :attr:`observed`.

        Returns
        -------
        pandas.DataFrame
            Columns ``observed``, ``mean`` and ``sd`` of the simulations, ``p_value`` =
            ``P(T_sim >= T_obs)`` (the share of simulations at or above the observed value;
            Monte Carlo error ``sqrt(p (1 - p) / m)``) and ``p_two_sided`` =
            ``min(1, 2 min(p, 1 - p))``.

        Raises
        ------
        ValueError
            If there are no observed statistics, or not ``k`` finite ones.
        """
        observed = self._observed(observed)
        simulated = self.statistics[self.statistic_names].to_numpy(dtype=np.float64)
        p = (simulated >= observed).mean(axis=0)
        table = {
            "observed": observed,
            "mean": simulated.mean(axis=0),
            "sd": simulated.std(axis=0, ddof=1 if len(simulated) > 1 else 0),
            "p_value": p,
            "p_two_sided": np.minimum(1.0, 2 * np.minimum(p, 1 - p)),
        }
        return pd.DataFrame(table, index=self.statistic_names)

    def _observed(self, observed: Any) -> np.ndarray:
        if observed is None:
            observed = self.observed
        if observed is None:
            raise ValueError(
                "observed must be given for p-values (got None, and the posterior's metadata "
                "holds none); pass observed=np.array([...]), one value per statistic."
            )
        values = check_observed(observed, True)
        k = len(self.statistic_names)
        if len(values) != k:
            raise ValueError(
                f"observed must hold k = {k} statistics, one per simulated one (got "
                f"{len(values)}); pass the statistics the simulator returns, in its order."
            )
        return values

    def plot(self, path: Optional[str] = None, **options: Any) -> Any:
        """One histogram per statistic, the observed value and its p-value marked.

        See :func:`plot_check`; writes a PNG when ``path`` is given.
        """
        return plot_check(self, path, **options)

    def __repr__(self) -> str:
        head = (
            f"PredictiveCheck: {len(self.statistics):,} simulations of "
            f"{len(self.statistic_names)} statistic(s)"
        )
        if self.metadata.get("n_failed"):
            head += f", {self.metadata['n_failed']:,} failed"
        if self.observed is None:
            return head
        with pd.option_context("display.float_format", "{:.4g}".format):
            return f"{head}\n{self.p_values().to_string()}"


def plot_check(
    check: PredictiveCheck,
    path: Optional[str] = None,
    *,
    observed: Any = None,
    bins: Optional[int] = None,
    dpi: int = 100,
) -> Any:
    """One histogram of the simulations per statistic, up to three a row.

    With observed statistics (``observed`` or ``check.observed``), each histogram marks the
    observed value with a vertical line and gives its p-values in the title.

    Parameters
    ----------
    check : PredictiveCheck
    path : str, optional
        Where to write a PNG (a local file).
    observed : array_like, shape (k,), optional
        Default ``check.observed``.
    bins : int, optional
        Histogram bins; default ``sqrt(m)`` between 10 and 50 for ``m`` simulations.
    dpi : int, default 100
        Each histogram is 3.6 by 2.8 inches.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> frame = pd.DataFrame({"mu": [0.0, 1.0, 2.0], "_stat_0": [0.5, 1.0, 2.5]})
    >>> fig = plot_check(PredictiveCheck(frame, ["mu"], observed=[2.0]))
    >>> fig.axes[0].get_title()
    '_stat_0: p = 0.333, two-sided 0.667'
    """
    from matplotlib.figure import Figure

    from abcspark.plots import BLUE, RED, _show_inline

    names = check.statistic_names
    simulated = check.statistics[names].to_numpy(dtype=np.float64)
    if bins is None:
        bins = int(min(50, max(10, round(math.sqrt(len(simulated))))))
    bins = positive_int("bins", bins, "30")
    table = None
    if observed is not None or check.observed is not None:
        table = check.p_values(observed)
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(3.6 * cols, 2.8 * rows), dpi=dpi, layout="constrained")
    for j, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, j + 1)
        ax.hist(simulated[:, j], bins=bins, density=True, color=BLUE, alpha=0.75)
        ax.set_xlabel(name)
        ax.set_ylabel("density")
        if table is not None:
            value, p, two_sided = table.loc[name, ["observed", "p_value", "p_two_sided"]]
            ax.axvline(value, color=RED, linewidth=2)
            ax.set_title(f"{name}: p = {p:.3g}, two-sided {two_sided:.3g}", fontsize="medium")
    fig.suptitle(f"Posterior predictive check: {len(simulated):,} simulations")
    _show_inline(type(fig))
    if path is not None:
        fig.savefig(path)
    return fig
