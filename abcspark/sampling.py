"""Driver-side sampling of one generation: rounds of batches, cut in batch order.

Which particles a generation accepts is decided by batch order, never by which task finishes
first. Walking the batches in order, the generation ends at the first batch where one of these
holds, and nothing after it counts:

- ``complete``: the ``n``-th particle within epsilon is reached;
- ``budget``: the simulations so far reach the budget (so a run ends within one batch of it);
- ``hopeless``: at a check point (a half, a quarter, ... of the budget used), even a
  generous upper bound on the acceptance rate seen so far could not give ``n`` particles within
  the budget, so running on would only spend it.

Each of these depends only on the batches' own counts, so the particles, counts and stop are
the same with any round sizing. Batches that ran past the cut are reported as ``n_discarded``;
rounds are sized from the counts alone, never from the engine's parallelism, so that figure
is the same on every engine too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, List, Optional

import numpy as np
import pandas as pd

from abcspark.batch import BatchTask
from abcspark.rows import sampled, sampled_statistics, split
from abcspark.sample_checks import check_failures, check_support


class BudgetExhausted(ValueError):
    """``max_simulations`` was reached before enough particles were accepted."""


@dataclass(frozen=True)
class Sample:
    """The particles a generation accepted and what they cost.

    Attributes
    ----------
    particles : pandas.DataFrame
        Columns ``batch, index, distance``, one per parameter (and statistics), in batch order.
    n_proposals : int
        Parameter draws in the batches up to the cut, inside the prior's support or not.
    n_simulations : int
        Simulator calls in those batches.
    n_failed : int
        Of those, simulations that raised or returned NaN/inf (``on_error='skip'``).
    acceptance_rate : float
        Particles within epsilon per simulation in those batches (before the cut at ``n``).
    n_discarded : int
        Simulator calls in batches that ran past the cut.
    stop : {'complete', 'budget', 'hopeless'}
        Why the generation ended (see the module's docstring).
    n_after_last : int
        Of ``n_simulations``, those after the ``n``-th particle in its batch (``complete``).
    statistics_sample : ndarray, shape (m, k), optional
        Statistics of every finite simulation of the sample batches up to the cut.
    """

    particles: pd.DataFrame
    n_proposals: int
    n_simulations: int
    n_failed: int
    acceptance_rate: float
    n_discarded: int = 0
    stop: str = "complete"
    n_after_last: int = 0
    statistics_sample: Optional[np.ndarray] = None


def sample_until(
    engine: Any,
    task: BatchTask,
    n_accept: int,
    budget: float,
    rate_guess: float = 1.0,
    description: str = "",
    first_round: float = 1.0,
    max_failed_share: float = 1.0,
    give_up_below: Optional[int] = None,
) -> Sample:
    """Run rounds of ``task``'s batches until ``n_accept`` particles are kept or ``budget`` spent.

    A round is sized from the particles still wanted and the rate of particles per proposal
    seen so far, capped so that it cannot spend more than the budget left. Round sizes never
    depend on the engine, so even ``n_discarded`` is the same on every engine. The first
    round, at ``rate_guess``, aims at ``first_round`` times the need: 1 where the guess cannot
    be too low (the prior, or a guess of 1), less where it is a forecast, since a round that
    overshoots wastes what it ran past the cut. Later rounds run at the measured rate and aim
    at the need, at most four times the proposals so far; one that falls short is followed by
    another. Aimed 5% over the need, they ran twice as many simulations past the cut.

    It is cut as ``hopeless`` when even an optimistic rate cannot find ``give_up_below``
    particles (default ``n_accept``; 0: never) in the budget. The task's batches below its
    ``sample_batches`` also send simulations beyond its epsilon: those up to the cut are
    ``statistics_sample``. The task is shared with the engine for the generation.

    Raises
    ------
    ValueError
        If the proposal puts (almost) no draws inside the prior's support.
    SimulationError
        If more than ``max_failed_share`` of the simulations failed (``on_error='skip'``).
    """
    first = _round_size(n_accept, rate_guess, budget, 1.0, task.batch_size, 0, first_round)
    least = n_accept if give_up_below is None else give_up_below
    shared = engine.share(task)
    try:
        return _rounds(
            engine, shared, task, n_accept, budget, first, least, description, max_failed_share
        )
    finally:
        engine.release(shared)


def _rounds(
    engine: Any,
    shared: Any,
    task: BatchTask,
    n_accept: int,
    budget: float,
    first: int,
    least: int,
    description: str,
    max_failed_share: float,
) -> Sample:
    """The rounds of :func:`sample_until`, the first of ``first`` batches."""
    particles: List[pd.DataFrame] = []
    tallies: List[pd.DataFrame] = []
    samples: List[pd.DataFrame] = []
    accepted = simulated = failed = next_batch = 0
    n_batches = first
    while True:
        rows = engine.run(
            shared,
            range(next_batch, next_batch + n_batches),
            None,
            f"{description} batches {next_batch}-{next_batch + n_batches - 1}",
        )
        kept, tally = split(rows, task.epsilon)
        particles.append(kept)
        tallies.append(tally)
        if task.sample_batches:
            samples.append(sampled(rows, task.sample_batches))
        next_batch += n_batches
        accepted += len(kept)
        simulated += int(tally["n_simulated"].sum())
        failed += int(tally["n_failed"].sum())
        check_failures(failed, simulated, max_failed_share, description)
        if (cut := _cut(particles, tallies, n_accept, budget, least)) is not None:
            found = _sample(particles, tallies, cut, n_accept, task)
            if not task.sample_batches:
                return found
            last = int(found.particles["batch"].max()) if len(found.particles) else -1
            return replace(found, statistics_sample=sampled_statistics(samples, last))
        proposed = next_batch * task.batch_size
        check_support(simulated, proposed)
        n_batches = _round_size(
            n_accept - accepted,
            max(accepted, 1) / proposed,
            budget - simulated,
            simulated / proposed,
            task.batch_size,
            proposed,
            1.0,
        )


def _round_size(
    needed: int,
    rate: float,
    budget_left: float,
    in_support: float,
    batch_size: int,
    proposed: int,
    first_round: float,
) -> int:
    """Batches of ``batch_size`` in the next round, after ``proposed`` proposals (see
    :func:`sample_until`)."""
    batches = needed / max(rate, 1e-12) / batch_size
    if proposed:
        wanted = min(math.ceil(batches), 4 * proposed // batch_size)
    else:
        wanted = math.ceil(first_round * batches)
    wanted = max(1, wanted)
    if not math.isfinite(budget_left):
        return wanted
    return max(1, min(wanted, math.ceil(budget_left / (batch_size * max(in_support, 1e-12)))))


def _cut(
    particles: List[pd.DataFrame],
    tallies: List[pd.DataFrame],
    n_accept: int,
    budget: float,
    give_up_below: int,
) -> Optional[tuple]:
    """The batch where the generation ends and why, or None if it has not ended yet."""
    tally = pd.concat(tallies).sort_values("batch", kind="mergesort")
    found = pd.concat(particles)["batch"].value_counts()
    batches = tally["batch"].to_numpy()
    cum_sims = np.cumsum(tally["n_simulated"].to_numpy())
    cum_acc = np.cumsum(found.reindex(batches, fill_value=0).to_numpy())
    events = []
    for priority, (stop, hit) in enumerate(
        (
            ("complete", cum_acc >= n_accept),  # first: n particles in the budget's last batch
            ("budget", cum_sims >= budget),
            ("hopeless", _hopeless(cum_sims, cum_acc, give_up_below, budget)),
        )
    ):
        if hit.any():
            events.append((int(np.argmax(hit)), priority, stop))
    return min(events)[::2] if events else None


def _hopeless(
    cum_sims: np.ndarray, cum_acc: np.ndarray, n_accept: int, budget: float
) -> np.ndarray:
    """At the first batch past budget/2, /4, ... /2**20 (and 1,000 simulations): can it suffice?

    The rate's bound is generous (three, plus three standard deviations, more particles than
    seen), so a generation that would finish within the budget is almost never stopped.
    """
    hit = np.zeros(len(cum_sims), dtype=bool)
    if not math.isfinite(budget) or n_accept <= 0:
        return hit
    for k in range(1, 21):
        position = int(np.searchsorted(cum_sims, budget / 2**k))
        if position >= len(cum_sims) or cum_sims[position] < 1000:
            continue
        optimistic = (cum_acc[position] + 3 + 3 * math.sqrt(cum_acc[position])) / cum_sims[position]
        if cum_sims[position] + (n_accept - cum_acc[position]) / optimistic > budget:
            hit[position] = True
    return hit


def _sample(
    particles: List[pd.DataFrame],
    tallies: List[pd.DataFrame],
    cut: tuple,
    n_accept: int,
    task: BatchTask,
) -> Sample:
    position, stop = cut
    tally = pd.concat(tallies).sort_values("batch", kind="mergesort")
    last = int(tally["batch"].iloc[position])
    ordered = pd.concat(particles).sort_values(["batch", "index"], kind="mergesort")
    within = ordered[ordered["batch"] <= last]
    used = tally.iloc[: position + 1]
    n_simulations = int(used["n_simulated"].sum())
    kept = within.head(n_accept).reset_index(drop=True)
    after = 0
    if stop == "complete" and len(kept):
        after = task.simulated_after(last, int(kept["index"].iloc[-1]))
    return Sample(
        particles=kept,
        n_proposals=(last + 1) * task.batch_size,
        n_simulations=n_simulations,
        n_failed=int(used["n_failed"].sum()),
        acceptance_rate=len(within) / max(n_simulations, 1),
        n_discarded=int(tally["n_simulated"].sum()) - n_simulations,
        n_after_last=after,
        stop=stop,
    )


def sample_best(
    engine: Any,
    shared: Any,
    n_batches: int,
    k: Optional[int],
    batch_size: int,
    description: str = "",
) -> Sample:
    """Run ``n_batches`` batches and keep the ``k`` particles of smallest distance.

    Each partition keeps its own top ``k``; the driver merges them, ties broken by
    (batch, index). With ``k=None`` every particle within the task's epsilon is kept.
    """
    rows = engine.run(shared, range(n_batches), k, description)
    kept, tally = split(rows)
    if k is not None:
        kept = kept.sort_values(["distance", "batch", "index"], kind="mergesort").head(k)
    kept = kept.sort_values(["batch", "index"], kind="mergesort").reset_index(drop=True)
    n_simulations = int(tally["n_simulated"].sum())
    return Sample(
        particles=kept,
        n_proposals=n_batches * batch_size,
        n_simulations=n_simulations,
        n_failed=int(tally["n_failed"].sum()),
        acceptance_rate=len(kept) / max(n_simulations, 1),
    )
