"""Driver-side sampling of one generation: rounds of batches, chosen in batch order.

Which particles are accepted is decided by batch order, never by which task finishes first:
after each round the kept rows are sorted by (batch, index) and the first ``n`` win. Batches
that ran beyond the one holding the n-th particle are discarded and not counted, so results
and counts are the same on any parallelism and with any round sizing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import pandas as pd

from abcspark.rows import split


class BudgetExhausted(ValueError):
    """``max_simulations`` was reached before enough particles were accepted."""


@dataclass(frozen=True)
class Sample:
    """The particles a generation accepted and what they cost.

    Attributes
    ----------
    particles : pandas.DataFrame
        Columns ``batch, index, distance`` and one per parameter, in batch order.
    n_simulations : int
        Simulations in the batches up to the last one needed.
    n_failed : int
        Of those, simulations that raised or returned NaN/inf (``on_error='skip'``).
    acceptance_rate : float
        Particles within epsilon per simulation in those batches (before the cut at ``n``).
    """

    particles: pd.DataFrame
    n_simulations: int
    n_failed: int
    acceptance_rate: float


def _cost(tallies: pd.DataFrame, last_batch: int) -> tuple:
    used = tallies[tallies["batch"] <= last_batch]
    return int(used["n_simulated"].sum()), int(used["n_failed"].sum())


def sample_until(
    engine: Any,
    shared: Any,
    n_accept: int,
    batch_size: int,
    max_simulations: int,
    rate_guess: float = 1.0,
    description: str = "",
) -> Sample:
    """Run rounds of batches until ``n_accept`` particles are kept.

    Each round is sized for 1.2 times the particles still wanted at the rate of particles per
    proposal seen so far (``rate_guess`` in the first round; proposals outside the prior's
    support are dropped before simulating, so this is below the acceptance rate), at least the
    engine's parallelism; later rounds run at most four times the batches run so far, so a poor
    guess costs rounds, not a runaway job.

    Raises
    ------
    BudgetExhausted
        When ``max_simulations`` proposals would be exceeded; the message gives the acceptance
        rate and the budget the request would need.
    """
    max_batches = max_simulations // batch_size
    parallelism = engine.parallelism
    particles, tallies = [], []
    accepted = simulated = failed = next_batch = 0
    rate = rate_guess
    while accepted < n_accept:
        if next_batch >= max_batches:
            raise BudgetExhausted(
                _budget_message(accepted, simulated, failed, n_accept, max_simulations)
            )
        wanted = math.ceil(1.2 * (n_accept - accepted) / max(rate, 1e-12) / batch_size)
        if next_batch:
            wanted = min(wanted, 4 * next_batch)
        n_batches = max(parallelism, wanted)
        n_batches = min(n_batches, max_batches - next_batch)
        rows = engine.run(
            shared,
            range(next_batch, next_batch + n_batches),
            None,
            f"{description} batches {next_batch}-{next_batch + n_batches - 1}",
        )
        kept, tally = split(rows)
        particles.append(kept)
        tallies.append(tally)
        next_batch += n_batches
        accepted += len(kept)
        simulated += int(tally["n_simulated"].sum())
        failed += int(tally["n_failed"].sum())
        rate = max(accepted, 1) / (next_batch * batch_size)
    ordered = pd.concat(particles).sort_values(["batch", "index"], kind="mergesort")
    chosen = ordered.head(n_accept)
    last = int(chosen["batch"].iloc[-1])
    n_simulations, n_failed = _cost(pd.concat(tallies), last)
    rate = int((ordered["batch"] <= last).sum()) / max(n_simulations, 1)
    return Sample(chosen.reset_index(drop=True), n_simulations, n_failed, rate)


def _budget_message(accepted: int, simulated: int, failed: int, wanted: int, budget: int) -> str:
    rate = accepted / max(simulated, 1)
    need = f"about {wanted / rate:.2g}" if rate > 0 else "more than any budget seen so far"
    failures = f" ({failed:,} simulations failed and were skipped)" if failed else ""
    return (
        f"max_simulations={budget:,} was reached with {accepted:,} of {wanted:,} particles "
        f"accepted in {simulated:,} simulations{failures}: acceptance rate {rate:.3g}, so the "
        f"request needs {need} simulations; raise epsilon or max_simulations."
    )


def sample_best(
    engine: Any, shared: Any, n_batches: int, k: Optional[int], description: str = ""
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
        kept, n_simulations, int(tally["n_failed"].sum()), len(kept) / max(n_simulations, 1)
    )
