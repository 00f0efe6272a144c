"""One generation's record: what it reached and what it cost, the same for every algorithm."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import List

import pandas as pd


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
    seconds : float
        Wall time of the generation.
    """

    generation: int
    epsilon: float
    n_proposals: int
    n_simulations: int
    acceptance_rate: float
    ess: float
    n_failed: int
    seconds: float

    def to_dict(self) -> dict:
        """The record as a JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, document: dict) -> GenerationRecord:
        """A record from :meth:`to_dict`'s output.

        Raises
        ------
        ValueError
            If fields are missing or unknown; the message names them.
        """
        expected = {f.name for f in fields(cls)}
        missing, unknown = expected - set(document), set(document) - expected
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
