"""The algorithms: rejection ABC, and population algorithms on one sequential loop.

:mod:`.base` holds :class:`~.base.SequentialABC`, which owns resume, checkpoints, progress,
stop rules and the posterior; an algorithm on it is a small module of hooks (:mod:`.pmc`).
"""

from abcspark.algorithms.model_choice import ModelChoice, ModelChoiceResult
from abcspark.algorithms.pmc import PMCABC
from abcspark.algorithms.rejection import RejectionABC

__all__ = ["ModelChoice", "ModelChoiceResult", "PMCABC", "RejectionABC"]
