"""What one call of a population algorithm's ``run`` carries from generation to generation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional

import pandas as pd

from abcspark.engines import Engine
from abcspark.history import GenerationRecord


@dataclass
class Run:
    """What one call of :meth:`SequentialABC.run` carries from generation to generation."""

    observed: Any
    distance: Any
    engine: Engine
    seed: int
    started: float
    population: Optional[pd.DataFrame] = None
    records: List[GenerationRecord] = field(default_factory=list)
    n_dropped: int = 0
    """Simulations of a last generation that the budget cut short and that was not kept."""

    @property
    def n_used(self) -> int:
        """Simulator calls so far, counted or discarded."""
        return sum(r.n_simulations + r.n_discarded for r in self.records) + self.n_dropped
