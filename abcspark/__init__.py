"""abcspark: Approximate Bayesian Computation as Spark pipelines.

Write a prior and a simulator, pick a distance, and run rejection ABC or PMC-ABC on the
embedded ``local[*]`` Spark, on any cluster, or in-process with NumPy; the same seed gives the
same posterior everywhere. Where each concept lives is in the README's code map.

>>> from abcspark import PMCABC, Prior, Uniform
"""

from abcspark._version import __version__
from abcspark.adaptive import AdaptiveEuclidean
from abcspark.algorithms import (
    APMCABC,
    PMCABC,
    SMCABC,
    ModelChoice,
    ModelChoiceResult,
    RejectionABC,
)
from abcspark.batch import SimulationError
from abcspark.calibration import Calibration, calibrate
from abcspark.callbacks import Callback
from abcspark.discrete_kernels import DiscreteJump, DiscreteRandomWalk
from abcspark.distances import Distance, Euclidean, Manhattan, ScaledEuclidean
from abcspark.engines import Engine, task_cpus
from abcspark.forest_choice import ForestModelChoice
from abcspark.history import GenerationRecord
from abcspark.kernels import GaussianKernel, Kernel, LocalKernel, OLCMKernel
from abcspark.nested import nested
from abcspark.posterior import Posterior
from abcspark.predictive_check import PredictiveCheck
from abcspark.priors import (
    Beta,
    Categorical,
    Gamma,
    LogNormal,
    MultivariateNormal,
    Normal,
    Poisson,
    Prior,
    ScipyDistribution,
    TruncatedNormal,
    Uniform,
)
from abcspark.reference_table import ReferenceTable
from abcspark.sampling import BudgetExhausted
from abcspark.semi_automatic import SemiAutomatic
from abcspark.session import get_spark
from abcspark.set_distances import EnergyDistance, Wasserstein
from abcspark.table_inference import TableRejectionABC
from abcspark.table_results import Neighbours
from abcspark.tracking import MLflowLogger

__all__ = [
    "APMCABC",
    "AdaptiveEuclidean",
    "Beta",
    "BudgetExhausted",
    "Calibration",
    "Callback",
    "Categorical",
    "DiscreteJump",
    "DiscreteRandomWalk",
    "Distance",
    "Engine",
    "EnergyDistance",
    "Euclidean",
    "ForestModelChoice",
    "Gamma",
    "GaussianKernel",
    "GenerationRecord",
    "Kernel",
    "LocalKernel",
    "LogNormal",
    "MLflowLogger",
    "ModelChoice",
    "ModelChoiceResult",
    "Neighbours",
    "Manhattan",
    "MultivariateNormal",
    "Normal",
    "OLCMKernel",
    "PMCABC",
    "Poisson",
    "Posterior",
    "PredictiveCheck",
    "Prior",
    "ReferenceTable",
    "RejectionABC",
    "SMCABC",
    "ScaledEuclidean",
    "ScipyDistribution",
    "SemiAutomatic",
    "SimulationError",
    "TableRejectionABC",
    "TruncatedNormal",
    "Uniform",
    "Wasserstein",
    "__version__",
    "calibrate",
    "get_spark",
    "nested",
    "task_cpus",
]
