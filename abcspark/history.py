"""One generation's record: what it reached and what it cost, the same for every algorithm."""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from typing import List, Optional

import numpy as np
import pandas as pd

from abcspark.sampling import Sample
from abcspark.weighted import ess


@dataclass(frozen=True)
class GenerationRecord:
    """The history row of one generation.

    Attributes
    ----------
    generation : int
    epsilon : float
        The acceptance threshold (for a quantile rejection run: the largest accepted distance).
    n_proposals : int
        Parameter draws, including those outside the prior's support (never simulated).
    n_simulations : int
        Simulator calls counted for the result.
    acceptance_rate : float
        Accepted particles per simulation.
    ess : float
        Effective sample size of the generation's weights.
    n_failed : int
        Simulations that raised or returned NaN/inf (``on_error='skip'``).
    n_discarded : int
        Simulations that ran in batches past the generation's last particle and count for
        nothing but the bill.
    seconds : float
        Wall time of the generation.
    n_after_last : int
        Of ``n_simulations``, those that ran after the generation's last particle in its
        batch (the batch was simulated whole): they too count for nothing but the bill.
    n_reused : int
        Particles of the population that an earlier generation drew and this one kept:
        recycled (PMC), joined to the budget's last generation, or kept from the pool (APMC);
        0 where every particle is the generation's own (rejection, ABC-SMC).
    """

    generation: int
    epsilon: float
    n_proposals: int
    n_simulations: int
    acceptance_rate: float
    ess: float
    n_failed: int
    n_discarded: int
    seconds: float
    n_after_last: int = 0
    n_reused: int = 0

    @classmethod
    def of(
        cls,
        generation: int,
        epsilon: float,
        sample: Sample,
        weights: np.ndarray,
        seconds: float,
        n_reused: int = 0,
    ) -> GenerationRecord:
        """The record of a generation that accepted ``sample`` and kept ``n_reused`` earlier
        particles, with ``weights`` on them all."""
        return cls(
            generation=generation,
            epsilon=float(epsilon),
            n_proposals=sample.n_proposals,
            n_simulations=sample.n_simulations,
            acceptance_rate=sample.acceptance_rate,
            ess=ess(weights),
            n_failed=sample.n_failed,
            n_discarded=sample.n_discarded,
            seconds=seconds,
            n_after_last=sample.n_after_last,
            n_reused=n_reused,
        )

    def describe(self) -> str:
        """One line for the log: ``generation 2: epsilon 0.31, acceptance rate ...``."""
        reused = f", {self.n_reused} particles reused" if self.n_reused else ""
        return (
            f"generation {self.generation}: epsilon {self.epsilon:.4g}, acceptance rate "
            f"{self.acceptance_rate:.3g}, {self.n_simulations} simulations, ESS {self.ess:.1f}"
            f"{reused}"
        )

    def to_dict(self) -> dict:
        """The record as a JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, document: dict) -> GenerationRecord:
        """A record from :meth:`to_dict`'s output; a field with a default (added later, like
        ``n_after_last``) may be missing and takes its default.

        Raises
        ------
        ValueError
            If fields are missing or unknown; the message names them.
        """
        expected = {f.name for f in fields(cls)}
        optional = {f.name for f in fields(cls) if f.default is not MISSING}
        missing, unknown = expected - set(document) - optional, set(document) - expected
        if missing or unknown:
            raise ValueError(
                f"a generation record must have the fields {sorted(expected)} (got "
                f"missing {sorted(missing)}, unknown {sorted(unknown)}); it was written by "
                "another version of abcspark."
            )
        return cls(**document)


def history_frame(records: List[GenerationRecord]) -> pd.DataFrame:
    """The records as the ``history`` DataFrame of a posterior, one row per generation."""
    columns = [f.name for f in fields(GenerationRecord)]
    return pd.DataFrame([r.to_dict() for r in records], columns=columns)


def forecast_rate(
    records: List[GenerationRecord], population: Optional[pd.DataFrame], epsilon: float
) -> float:
    """Particles per proposal to expect in the next generation, to size its first round.

    Generation 1: the weighted share of generation 0's particles within the new epsilon,
    times generation 0's share of proposals that simulated without failing (its kernel
    proposes around those particles, so their own acceptance rate, the prior's, would count
    their selection again when generation 0 kept the closest of more draws). Generation 2:
    generation 1's rate (the share would count the kernel's concentration twice, and a
    forecast too low wastes simulations). Later: the last rate times the square root of the
    trend of the last two (the whole trend forecast the falling rate too low, and a first
    round sized by a low forecast runs past the cut: on the 1-d conjugate model, 2.4 times
    the simulations discarded). Never below a quarter of the last rate, so
    a forecast of zero cannot ask for an endless round.
    """
    rates = [r.acceptance_rate * r.n_simulations / r.n_proposals for r in records]
    if not rates:
        return 1.0
    if len(rates) == 1:
        within = population["distance"].to_numpy() <= epsilon
        first = records[0]
        succeeded = (first.n_simulations - first.n_failed) / max(first.n_proposals, 1)
        guess = succeeded * float(population["weight"].to_numpy() @ within)
    elif len(rates) == 2:
        guess = rates[-1]
    else:
        guess = rates[-1] * min(1.0, rates[-1] / max(rates[-2], 1e-12)) ** 0.5
    return max(guess, rates[-1] / 4)
