"""abcspark: Approximate Bayesian Computation as Spark pipelines.

Write a prior and a simulator, pick a distance, and run rejection ABC or PMC-ABC on the
embedded ``local[*]`` Spark, on any cluster, or in-process with NumPy; the same seed gives the
same posterior everywhere.

>>> from abcspark import PMCABC, Prior, Uniform
"""

__version__ = "0.1.0"

from abcspark.barrier import task_cpus
from abcspark.distances import Distance, Euclidean, Manhattan, ScaledEuclidean
from abcspark.generation import BudgetExhausted
from abcspark.pmc import PMCABC
from abcspark.posterior import Posterior
from abcspark.priors import (
    Beta,
    Categorical,
    Gamma,
    LogNormal,
    MultivariateNormal,
    Normal,
    Poisson,
    Prior,
    TruncatedNormal,
    Uniform,
)
from abcspark.ranks import nested
from abcspark.rejection import RejectionABC
from abcspark.session import get_spark
from abcspark.simulation import SimulationError

__all__ = [
    "Beta",
    "BudgetExhausted",
    "Categorical",
    "Distance",
    "Euclidean",
    "Gamma",
    "LogNormal",
    "Manhattan",
    "MultivariateNormal",
    "Normal",
    "PMCABC",
    "Poisson",
    "Posterior",
    "Prior",
    "RejectionABC",
    "ScaledEuclidean",
    "SimulationError",
    "TruncatedNormal",
    "Uniform",
    "get_spark",
    "nested",
    "task_cpus",
]
