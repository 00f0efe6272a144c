"""What every algorithm shares: its problem, its settings and how its posterior is built."""

from __future__ import annotations

from typing import Any, List, Optional

import numpy as np
import pandas as pd

from abcspark.engines import Engine
from abcspark.history import GenerationRecord, history_frame
from abcspark.posterior import Posterior
from abcspark.problem import Problem, versions
from abcspark.rows import statistics


class Algorithm:
    """The base of every algorithm: a :class:`~abcspark.problem.Problem` and its posterior."""

    name = "ABC"
    pools_generations = True
    """Whether a population algorithm run with ``keep_statistics`` keeps its generations for
    ``adjust()`` to pool (:mod:`abcspark.pooling`): PMC's and APMC's, where it was measured
    closer (README, accuracy); not SMC's, whose resampled and moved populations it left
    farther on three of four models at 1e3 simulations (beyond noise on one), nor model
    choice's."""

    def __init__(self, problem: Problem):
        self.problem = problem

    def settings(self) -> dict:
        """Everything that decides the result, as saved in metadata and checkpoints."""
        return self.problem.settings()

    def _posterior(
        self,
        particles: pd.DataFrame,
        weights: np.ndarray,
        records: List[GenerationRecord],
        engine: Engine,
        observed: Any,
        settings: Optional[dict] = None,
        earlier: Optional[pd.DataFrame] = None,
        **metadata: Any,
    ) -> Posterior:
        """The posterior of ``particles`` (rows of :func:`abcspark.rows.split`), its history
        and ``earlier`` generations (:func:`abcspark.pooling.earlier_frame`)."""
        history = history_frame(records)
        return Posterior(
            particles[self.problem.prior.names],
            weights,
            particles["distance"].to_numpy(),
            history,
            self._metadata(history, engine, observed, settings, metadata),
            statistics(particles) if self.problem.keep_statistics else None,
            earlier,
        )

    def _metadata(
        self,
        history: pd.DataFrame,
        engine: Engine,
        observed: Any,
        settings: Optional[dict],
        metadata: dict,
    ) -> dict:
        """A run's metadata: ``metadata`` and the settings, engine, counts and versions."""
        dropped = metadata.get("n_simulations_dropped", 0)
        metadata.update(
            algorithm=self.name,
            settings=self.settings() if settings is None else settings,
            engine=engine.name,
            parallelism=engine.parallelism,
            n_simulations=int((history["n_simulations"] + history["n_discarded"]).sum()) + dropped,
            n_discarded=int(history["n_discarded"].sum()) + dropped,
            n_after_last=int(history["n_after_last"].sum()),
            n_driver_simulations=self.problem.n_driver_simulations,
            distance=self.problem.fitted_distance,
            n_failed=int(history["n_failed"].sum()),
            observed=observed.tolist() if isinstance(observed, np.ndarray) else None,
            bounds=self.problem.prior.bounds().tolist(),
            discrete=self.problem.prior.discrete_names,
            versions=versions(),
        )
        return metadata
