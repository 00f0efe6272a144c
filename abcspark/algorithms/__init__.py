"""The algorithms: rejection ABC, and population algorithms on one sequential loop.

:mod:`.sequential` holds :class:`~.sequential.SequentialABC`, which owns resume, checkpoints,
progress, stop rules and the posterior; an algorithm on it is a small module of hooks
(:mod:`.pmc`, :mod:`.model_choice`, :mod:`.smc`, :mod:`.apmc`).
"""

from abcspark.algorithms.apmc import APMCABC
from abcspark.algorithms.model_choice import ModelChoice, ModelChoiceResult
from abcspark.algorithms.pmc import PMCABC
from abcspark.algorithms.rejection import RejectionABC
from abcspark.algorithms.smc import SMCABC

__all__ = ["APMCABC", "ModelChoice", "ModelChoiceResult", "PMCABC", "RejectionABC", "SMCABC"]
