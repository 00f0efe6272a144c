"""Forecasts for the next generation (:func:`next_plan`): its epsilon for a target acceptance
rate, its size for the budget left, whether the budget's last one goes to a smaller epsilon
(:mod:`abcspark.tolerance`); what a generation the budget cut short needs to be kept, why it
ended short of its particles, and generation 0's closest of more prior draws (:func:`closest`).

The forecast acceptance rate at a candidate epsilon is the rate forecast at the usual one,
scaled by the last population's weighted share within each; the candidates are the 5%, 10%,
..., 100% weighted quantiles of the last population's distances.
"""

from __future__ import annotations

from dataclasses import replace
from typing import List, Optional, Tuple

import numpy as np
import pandas as pd

from abcspark.history import GenerationRecord, forecast_rate
from abcspark.recycling import reused
from abcspark.sampling import Sample
from abcspark.tolerance import join_pays
from abcspark.weighted import ess, quantile

MIN_LAST_SHARE = 0.25
"""A generation the budget cuts short is kept if it holds this share of ``n_particles`` and
of the last generation's ESS."""


def next_plan(
    population: pd.DataFrame,
    records: List[GenerationRecord],
    epsilon: float,
    n_particles: int,
    budget_left: float,
    *,
    target_acceptance_rate: Optional[float],
    min_epsilon: float,
    scheduled: bool,
    adaptive: bool,
    recycle: bool = False,
    tolerance: Optional[Tuple[float, float]] = None,
) -> Optional[Tuple[float, int]]:
    """``(epsilon, particles)`` of the generation after ``population`` (with ``records``), or
    None when ``budget_left`` cannot buy it.

    ``epsilon`` is the one planned (a quantile of the last distances, or the ``scheduled``
    one); a ``target_acceptance_rate`` moves it (:func:`epsilon_for_rate`), never below
    ``min_epsilon``; then :func:`fit_budget` sizes the generation, relaxing epsilon unless it
    is ``scheduled``, and joining the last generation's epsilon unless the distance is
    ``adaptive``. With ``recycle``, the particles the last generation's own ones within
    epsilon stand for (:func:`abcspark.recycling.reused`) are not bought. Given the last
    population's ``tolerance`` error (:func:`abcspark.tolerance.tolerance_error`), the budget's
    last generation (fewer or more than ``n_particles``) goes to a smaller epsilon only if
    that comes closer than spending the rest at the last one (:func:`joined_instead`).
    """
    distances = population["distance"].to_numpy()
    weights = population["weight"].to_numpy()
    last = records[-1]  # forecast_rate is per proposal; the budget counts simulations
    rate = forecast_rate(records, population, epsilon) * last.n_proposals
    rate /= max(last.n_simulations, 1)
    if target_acceptance_rate is not None:
        epsilon, rate = epsilon_for_rate(distances, weights, epsilon, rate, target_acceptance_rate)
    epsilon = max(epsilon, min_epsilon)
    kept = reused(population, last.generation + 1, epsilon, n_particles) if recycle else 0
    plan = fit_budget(
        distances,
        weights,
        epsilon,
        rate,
        n_particles,
        budget_left,
        relax=not scheduled,
        last=None if adaptive else (last.epsilon, last.acceptance_rate),
        kept=kept,
    )
    if plan is None or tolerance is None or scheduled or adaptive or plan[1] == n_particles:
        return plan
    return joined_instead(plan, tolerance, last, len(population), budget_left)


def joined_instead(
    plan: Tuple[float, int],
    tolerance: Tuple[float, float],
    last: GenerationRecord,
    size: int,
    budget_left: float,
) -> Tuple[float, int]:
    """The budget's last generation: ``plan`` at a smaller epsilon than the ``last`` one, or
    the rest spent at the last epsilon, joined to the last population (of ``size`` particles),
    whichever :func:`abcspark.tolerance.join_pays` forecasts closer.

    Each particle is forecast to bring the last population's ESS per particle; the rest buys
    ``last.acceptance_rate * budget_left`` particles at the last epsilon. Measured on
    ``benchmarks/accuracy.py`` at pyABC's count (README): the bimodal model closer (1e5: 4 of
    4 runs), Gamma level, and no change on 95 of 96 runs at 1e3 and 1e4.
    """
    epsilon, particles = plan
    instead = rest_at_last(last.epsilon, last.acceptance_rate, budget_left)
    if epsilon >= last.epsilon or instead is None:
        return plan
    per_particle = last.ess / size
    smaller = per_particle * particles
    joined = last.ess + per_particle * last.acceptance_rate * budget_left
    return instead if join_pays(tolerance, epsilon / last.epsilon, smaller, joined) else plan


def rest_at_last(epsilon: float, rate: float, budget_left: float) -> Optional[Tuple[float, int]]:
    """A generation at the last generation's ``epsilon`` (and acceptance ``rate``) that spends
    ``budget_left``, its particles joined to the last ones (:func:`merged`); None if it buys
    fewer than 2 particles there."""
    bought = rate * budget_left
    return (epsilon, int(bought)) if bought >= 2 else None


def fit_budget(
    distances: np.ndarray,
    weights: np.ndarray,
    epsilon: float,
    rate: float,
    n_particles: int,
    budget_left: float,
    relax: bool,
    last: Optional[Tuple[float, float]] = None,
    kept: int = 0,
) -> Optional[Tuple[float, int]]:
    """Epsilon and particles of the next generation, sized to what is left of the budget.

    ``rate`` is the forecast acceptance rate per simulation at ``epsilon``, so the budget left
    buys about ``m = rate * budget_left`` particles there. At least twice the ``n_particles``
    it must draw (those ``kept`` from the last generation, recycled, it need not):
    ``(epsilon, n_particles)``, a generation like any other. Else, from half ``n_particles``: the
    last generation, ``(epsilon, m)``, with more or fewer particles, to spend the budget left.
    Fewer: with ``relax``, the smallest larger quantile of the last distances (``distances``,
    ``weights``), where the rate scales with the population's weighted share within it, that
    buys half of ``n_particles`` (more if it can, at most ``n_particles``). Else, given the
    ``last`` generation's ``(epsilon, acceptance rate)``, a generation at that epsilon that
    spends the rest, if it buys 2 particles there: its particles join the last ones
    (:func:`merged`). Else None: what is left is not worth a generation.
    """
    bought = rate * budget_left
    if bought >= 2 * (n_particles - kept):
        return epsilon, n_particles
    if bought >= n_particles / 2:
        return epsilon, int(bought)
    if relax:
        for candidate, rate_there in zip(*rates_at(distances, weights, epsilon, rate)):
            more = rate_there * budget_left
            if candidate > epsilon and more >= n_particles / 2:
                return float(candidate), min(n_particles, int(more))
    return None if last is None else rest_at_last(*last, budget_left)


def within(population: pd.DataFrame, epsilon: float) -> pd.DataFrame:
    """The particles of ``population`` within ``epsilon``, their weights summing to 1 again.

    An importance sample of the ABC posterior at a larger epsilon, restricted to the particles
    within a smaller one, is one of the ABC posterior there: the generation the budget ends
    joins these (:func:`merged`) instead of being the only particles at its epsilon.
    """
    inside = population[population["distance"].to_numpy() <= epsilon]
    total = float(inside["weight"].sum())
    return inside.assign(weight=inside["weight"] / total) if total > 0 else inside.iloc[:0]


def merged(last: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Two populations at the same epsilon as one (each with a ``weight`` column summing to 1).

    Both are importance samples of the same ABC posterior from different proposals, so any
    fixed split of the weight between them is consistent; each gets a share proportional to
    its ESS, close to the split of least variance.
    """
    if not len(new) or not len(last):
        return last if len(last) else new
    share_last, share_new = ess(last["weight"].to_numpy()), ess(new["weight"].to_numpy())
    total = share_last + share_new
    return pd.concat(
        [
            last.assign(weight=last["weight"] * (share_last / total)),
            new.assign(weight=new["weight"] * (share_new / total)),
        ],
        ignore_index=True,
    )


def rates_at(
    distances: np.ndarray, weights: np.ndarray, epsilon: float, rate: float
) -> Tuple[np.ndarray, np.ndarray]:
    """The candidate epsilons, ascending, and the acceptance rate forecast at each.

    ``rate`` is the forecast at ``epsilon``; with no particle within ``epsilon`` there is no
    share to scale it by, and no candidate is offered.
    """
    share = weights @ (distances <= epsilon)
    if share <= 0:
        return np.empty(0), np.empty(0)
    candidates = quantile(distances, weights, np.linspace(0.05, 1, 20))
    within = (distances[None, :] <= candidates[:, None]) @ weights
    return candidates, rate * within / share


def epsilon_for_rate(
    distances: np.ndarray, weights: np.ndarray, epsilon: float, rate: float, target: float
) -> Tuple[float, float]:
    """The smallest candidate epsilon whose forecast acceptance rate reaches ``target``.

    Returns ``(epsilon, forecast rate there)``; the largest candidate if none reaches it, and
    ``(epsilon, rate)`` unchanged if there is no candidate.
    """
    candidates, rates = rates_at(distances, weights, epsilon, rate)
    if not len(candidates):
        return epsilon, rate
    reach = rates >= target * (1 - 1e-12)  # the share's sums may differ in the last bit
    i = int(np.argmax(reach)) if reach.any() else len(candidates) - 1
    return float(candidates[i]), float(rates[i])


def kept_from(last: GenerationRecord, n_particles: int) -> Tuple[float, float]:
    """The particles and ESS a generation the budget cut short needs to be kept.

    ``MIN_LAST_SHARE`` of ``n_particles`` (at least 2) and of the ``last`` generation's ESS (a
    worse one is dropped); after epsilon inf, 2 particles and any ESS (dropped, the last
    population would be the prior's).
    """
    if last.epsilon == np.inf:
        return 2, 0.0
    return max(2, MIN_LAST_SHARE * n_particles), MIN_LAST_SHARE * last.ess


def budget_message(sample: Sample, wanted: int, budget: float) -> str:
    """Why a generation that needed ``wanted`` particles ended without them."""
    accepted = len(sample.particles)
    rate = accepted / max(sample.n_simulations, 1)
    need = (
        f"about {wanted / rate:.2g} simulations"
        if rate > 0
        else f"more than {wanted * sample.n_simulations / 3:.2g} simulations (none accepted)"
    )
    failures = (
        f" ({sample.n_failed:,} simulations failed and were skipped)" if sample.n_failed else ""
    )
    when = "was reached" if sample.stop == "budget" else "cannot be enough"
    return (
        f"max_simulations={budget:,.0f} {when} with {accepted:,} of {wanted:,} particles "
        f"accepted in {sample.n_simulations:,} simulations{failures}: acceptance rate "
        f"{rate:.3g}, so the request needs {need}; raise epsilon or max_simulations."
    )


def closest(sample: Sample, n: int) -> Sample:
    """``sample`` with only its ``n`` particles nearest the observation (ties: batch order):
    generation 0 of a budgeted PMC run, the closest of more prior draws (``prior_draws``)."""
    nearest = np.sort(np.argsort(sample.particles["distance"].to_numpy(), kind="stable")[:n])
    return replace(
        sample,
        particles=sample.particles.iloc[nearest].reset_index(drop=True),
        acceptance_rate=n / max(sample.n_simulations, 1),
        stop="complete",
    )
