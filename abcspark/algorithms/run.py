"""What one call of a population algorithm's ``run`` carries from generation to generation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional

import numpy as np
import pandas as pd

from abcspark.checkpoint import Checkpoint
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
    proposal: Any = None
    """What the last generation sampled from (None after a resume, until it is refitted)."""
    checkpoint: Optional[Checkpoint] = None
    earlier: List[pd.DataFrame] = field(default_factory=list)
    """The populations before ``population``, for ``adjust()`` (:mod:`abcspark.pooling`): kept
    with the statistics (``keep_statistics``) and a fixed distance (an adaptive one's epsilons
    change units)."""

    @property
    def n_used(self) -> int:
        """Simulator calls so far, counted or discarded."""
        return sum(r.n_simulations + r.n_discarded for r in self.records) + self.n_dropped


def open_checkpoint(path: Optional[str], algorithm: Any, run: Run) -> Optional[Checkpoint]:
    """The checkpoint of ``algorithm``'s run at ``path``, opened (locked); None without a path."""
    if path is None:
        return None
    if algorithm.problem.adaptive:
        raise ValueError(
            "checkpoint must be None with an adaptive distance (got a path); its refitted "
            "scales are not saved yet: use ScaledEuclidean to checkpoint."
        )
    observed = run.observed
    described = observed.tolist() if isinstance(observed, np.ndarray) else repr(observed)
    problem = {
        "algorithm": algorithm.name,
        "seed": run.seed,
        "settings": algorithm.settings(),
        "observed": described,
    }
    store = Checkpoint(path, problem, getattr(run.engine, "spark", None))
    store.open()
    return store
