"""Several models as one parameter space: a model column beside every model's parameters.

ABC model choice samples pairs (model, parameters). abcspark writes such a pair as one row:
column ``model`` holds the model's index and each model's parameters have their own columns,
``<model>_<parameter>``; a row's other models' columns are NaN. :class:`ModelSpace` is the
joint prior, :class:`ModelSwitch` runs each row through its model's simulator, and
:class:`ModelProposal` is the next generation's proposal: perturb the model, then the
parameters with a kernel fitted to that model's particles. With these the batches, engines,
checkpoints and budgets of PMC run model choice unchanged.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from abcspark.discrete_kernels import DiscreteKernel, mixed_proposal
from abcspark.distributions import as_rows, check_draw
from abcspark.priors import Prior


class ModelSpace(Prior):
    """The joint prior of a model index and the parameters of the chosen model.

    Parameters
    ----------
    priors : dict of str to Prior
        Each model's prior, by model name.
    probabilities : sequence of float, optional
        The prior probability of each model (in the order of ``priors``); uniform by default.
    """

    def __init__(self, priors: Dict[str, Prior], probabilities: Optional[Sequence[float]] = None):
        if len(priors) < 2 or not all(isinstance(p, Prior) for p in priors.values()):
            raise ValueError(
                f"model choice needs at least two models, each with a Prior (got {priors!r}); "
                "pass models={'poisson': (prior, simulate), 'geometric': (prior, simulate)}."
            )
        self.models, self.priors = list(priors), list(priors.values())
        self.probabilities = _model_probabilities(probabilities, len(self.models))
        self.names, self.discrete_names, self.columns = ["model"], ["model"], []
        for model, prior in priors.items():
            start = len(self.names)
            self.names += [f"{model}_{name}" for name in prior.names]
            self.discrete_names += [f"{model}_{name}" for name in prior.discrete_names]
            self.columns.append(np.arange(start, len(self.names)))
        if len(set(self.names)) < len(self.names):
            raise ValueError(
                f"model and parameter names must give unique columns (got {self.names}); "
                "rename a model or a parameter."
            )
        self.dim, self.components = len(self.names), {}

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` rows: a model by its prior probability, then that model's parameters."""
        check_draw(n, rng)
        return self.fill(rng.choice(len(self.models), size=n, p=self.probabilities), rng, None)

    def fill(self, index: np.ndarray, rng: np.random.Generator, samplers: Any) -> np.ndarray:
        """Rows of models ``index (n,)`` with parameters from ``samplers[m]`` (or the priors)."""
        out = np.full((len(index), self.dim), np.nan)
        out[:, 0] = index
        for m, prior in enumerate(self.priors):
            rows = np.flatnonzero(index == m)
            sampler = prior if samplers is None else samplers[m]
            if len(rows) and sampler is not None:
                out[np.ix_(rows, self.columns[m])] = sampler.sample(len(rows), rng)
        return out

    def log_pdf(self, theta: np.ndarray) -> np.ndarray:
        """``log P(model) + log prior_model(its parameters)``; ``-inf`` outside the support."""
        theta = as_rows("ModelSpace", theta, self.dim)
        out = np.full(len(theta), -np.inf)
        for m, prior in enumerate(self.priors):
            rows = np.flatnonzero(theta[:, 0] == m)
            if len(rows):
                block = theta[np.ix_(rows, self.columns[m])]
                out[rows] = np.log(self.probabilities[m]) + prior.log_pdf(block)
        return out

    def in_support(self, theta: np.ndarray) -> np.ndarray:
        """Whether each row names a model and lies in that model's prior support."""
        theta = as_rows("ModelSpace", theta, self.dim)
        out = np.zeros(len(theta), dtype=bool)
        for m, prior in enumerate(self.priors):
            rows = np.flatnonzero(theta[:, 0] == m)
            if len(rows):
                out[rows] = prior.in_support(theta[np.ix_(rows, self.columns[m])])
        return out

    def bounds(self) -> np.ndarray:
        """Each column's support: ``[0, models - 1]`` for ``model``, then each model's."""
        return np.vstack([[[0.0, len(self.models) - 1.0]], *(p.bounds() for p in self.priors)])

    def to_dict(self) -> dict:
        """JSON-able: the models' priors by name and the model probabilities."""
        models = {name: prior.to_dict() for name, prior in zip(self.models, self.priors)}
        return {"models": models, "probabilities": self.probabilities.tolist()}

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={p!r}" for n, p in zip(self.models, self.priors))
        return f"ModelSpace({inner}, probabilities={self.probabilities.tolist()})"


class ModelSwitch:
    """A vectorized simulator that runs each row through the simulator of its model.

    Parameters
    ----------
    space : ModelSpace
    simulators : list of callable
        Each model's vectorized ``(theta (n, d_m), rng) -> (n, k)``; all give the same ``k``.
    """

    def __init__(self, space: ModelSpace, simulators: List[Callable]) -> None:
        self.space, self.simulators = space, simulators

    def __call__(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out: Optional[np.ndarray] = None
        for m, simulate in enumerate(self.simulators):
            rows = np.flatnonzero(theta[:, 0] == m)
            if len(rows) == 0:
                continue
            stats = np.asarray(simulate(theta[np.ix_(rows, self.space.columns[m])], rng), float)
            if out is None:
                out = np.full((len(theta), stats.shape[-1]), np.nan)
            if stats.shape != (len(rows), out.shape[1]):
                raise ValueError(
                    f"every model's simulator must return (n, k) with the same k (got "
                    f"{stats.shape} from model {self.space.models[m]!r} for {len(rows)} rows "
                    f"and k = {out.shape[1]}); return the same summary statistics from each."
                )
            out[rows] = stats
        return out


class ModelProposal:
    """The next generation's proposal over models and their parameters.

    A row picks a model by the last generation's model probabilities, keeps it with
    probability ``stay`` or moves to another model still alive (two or more particles), each
    alike, then draws parameters from a kernel fitted to that model's particles.
    """

    def __init__(
        self,
        space: ModelSpace,
        population: tuple,
        kernel: Any,
        walk: DiscreteKernel,
        stay: float,
    ) -> None:
        particles, weights, distances, epsilon = population
        index = particles[:, 0].astype(int)
        self.space, self.stay = space, stay
        self.alive = np.bincount(index, minlength=len(space.models)) >= 2
        if not self.alive.any():
            raise ValueError(
                f"model choice needs two particles of one model to propose from (got "
                f"{len(index)} particles over {len(set(index.tolist()))} models); raise "
                "n_particles, e.g. to 1000."
            )
        probabilities = np.bincount(index, weights, minlength=len(space.models)) * self.alive
        self.probabilities = probabilities / probabilities.sum()
        self.samplers: list = [None] * len(space.models)
        for m in np.flatnonzero(self.alive):
            rows = index == m
            block = particles[np.ix_(rows, space.columns[m])]
            discrete = np.isin(space.priors[m].names, space.priors[m].discrete_names)
            fitted = (block, weights[rows] / weights[rows].sum(), distances[rows], epsilon)
            self.samplers[m] = (
                mixed_proposal(kernel, walk, discrete, *fitted)
                if discrete.any()
                else kernel.fit(*fitted)
            )

    def model_kernel(self) -> np.ndarray:
        """``K[i, j]``: the probability of moving from model i to model j (alive ones)."""
        alive, count = self.alive, int(self.alive.sum())
        moves = np.where(alive, (1 - self.stay) / max(count - 1, 1), 0.0)
        kernel = np.tile(moves, (len(alive), 1))
        np.fill_diagonal(kernel, self.stay if count > 1 else 1.0)
        return kernel * alive[None, :]

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` rows: the model moved by :meth:`model_kernel`, then its parameters."""
        kernel = self.model_kernel()
        start = rng.choice(len(self.alive), size=n, p=self.probabilities)
        cumulative = np.cumsum(kernel[start], axis=1)
        spot = rng.random(n) * cumulative[:, -1]  # inverse CDF; a dead model's step is empty
        index = (spot[:, None] >= cumulative).sum(axis=1)
        return self.space.fill(index, rng, self.samplers)

    def log_density(self, theta: np.ndarray) -> np.ndarray:
        """``log sum_i p(i) K[i, m] + log q_m(parameters)`` of each row, model ``m``."""
        model_density = self.probabilities @ self.model_kernel()
        out = np.full(len(theta), -np.inf)
        for m in np.flatnonzero(self.alive):
            rows = np.flatnonzero(theta[:, 0] == m)
            if len(rows):
                block = theta[np.ix_(rows, self.space.columns[m])]
                out[rows] = np.log(model_density[m]) + self.samplers[m].log_density(block)
        return out


def model_space(
    models: Mapping[str, Tuple[Any, Callable]], probabilities: Optional[Sequence[float]] = None
) -> Tuple[ModelSpace, ModelSwitch]:
    """The joint prior and simulator of ``models``, a dict of name to ``(prior, simulate)``."""
    if not isinstance(models, Mapping) or not all(
        isinstance(v, tuple) and len(v) == 2 for v in models.values()
    ):
        raise TypeError(
            f"models must be a dict of name to (prior, simulate) (got {models!r}); e.g. "
            "{'poisson': (Prior(rate=Gamma(2, 1)), simulate_poisson), ...}."
        )
    space = ModelSpace({name: prior for name, (prior, _) in models.items()}, probabilities)
    return space, ModelSwitch(space, [simulate for _, simulate in models.values()])


def _model_probabilities(probabilities: Optional[Sequence[float]], count: int) -> np.ndarray:
    if probabilities is None:
        return np.full(count, 1.0 / count)
    values = np.asarray(probabilities, dtype=np.float64)
    if values.shape != (count,) or (values <= 0).any() or abs(values.sum() - 1) > 1e-9:
        raise ValueError(
            f"model_probabilities must be {count} positive numbers that sum to 1, one per "
            f"model (got {list(probabilities)}); e.g. [0.5, 0.5], or None for uniform."
        )
    return values
