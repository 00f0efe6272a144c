"""PMC proposals for discrete and mixed parameters: integer steps beside a Gaussian kernel.

A prior with `~abcspark.Poisson` or `~abcspark.Categorical` components has integer columns. PMC
proposes for them with a :class:`DiscreteRandomWalk` and for the other columns with its
(Gaussian) kernel, both from the same resampled particle: a kernel per block of parameters.
The proposal is a :class:`MixedMixture`, whose density the importance weights use; proposals
off the prior's support (a count below 0, a category beyond the last) are dropped free, as any
proposal outside the support.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from abcspark.kernels import GaussianMixture, log_density_in_chunks, log_sum_exp
from abcspark.validation import real
from abcspark.weighted import covariance


class DiscreteRandomWalk:
    """Integer steps for the discrete columns: a discretised Gaussian around each particle.

    Each discrete column ``c`` moves by an integer step ``s`` with probability proportional to
    ``exp(-s^2 / (2 h_c^2))`` for ``|s| <= ceil(4 h_c)``, where ``h_c = max(min_width, scale *
    sd_c)`` and ``sd_c`` is the column's weighted sd in the population. With the default
    ``min_width=1`` a particle keeps its value with probability 0.40 at most and moves by one
    with 0.24 each way, so a population that has settled on one value still explores.

    Parameters
    ----------
    scale : float, default 1.0
        Width as a multiple of the weighted sd.
    min_width : float, default 1.0
        Smallest width ``h_c``.

    Examples
    --------
    >>> walk = DiscreteRandomWalk()
    >>> steps, log_p = walk.steps(np.array([[0.0], [2.0]]), np.array([0.5, 0.5]))[0]
    >>> steps.tolist()
    [-4, -3, -2, -1, 0, 1, 2, 3, 4]
    >>> round(float(np.exp(log_p[4])), 3)
    0.399
    """

    def __init__(self, scale: float = 1.0, min_width: float = 1.0) -> None:
        self.scale = real("scale", scale, 0, math.inf, open_low=True, open_high=True, example="1.0")
        self.min_width = real(
            "min_width", min_width, 0, math.inf, open_low=True, open_high=True, example="1.0"
        )

    def steps(self, values: np.ndarray, weights: np.ndarray) -> list:
        """Per column of ``values (n, m)``: the steps and their log probabilities."""
        sd = np.sqrt(np.diag(covariance(values, weights)))
        out = []
        for width in np.maximum(self.min_width, self.scale * sd):
            reach = math.ceil(4 * width)
            steps = np.arange(-reach, reach + 1)
            log_p = -0.5 * (steps / width) ** 2
            out.append((steps, log_p - log_sum_exp(log_p[None, :])[0]))
        return out

    def to_dict(self) -> dict:
        """JSON-able description, saved in metadata and checkpoints."""
        return {"type": type(self).__name__, "scale": self.scale, "min_width": self.min_width}

    def __repr__(self) -> str:
        return f"DiscreteRandomWalk(scale={self.scale!r}, min_width={self.min_width!r})"


class MixedMixture:
    """A proposal over continuous and discrete columns from one resampled particle.

    Parameters
    ----------
    particles : ndarray, shape (n, d)
    weights : ndarray, shape (n,)
        Normalised weights.
    discrete : ndarray of bool, shape (d,)
        Which columns are discrete.
    continuous : GaussianMixture or None
        The kernel's proposal over the continuous columns (None if there are none).
    steps : list of (ndarray, ndarray)
        Per discrete column, the integer steps and their log probabilities
        (:meth:`DiscreteRandomWalk.steps`).
    """

    def __init__(
        self,
        particles: np.ndarray,
        weights: np.ndarray,
        discrete: np.ndarray,
        continuous: Optional[GaussianMixture],
        steps: list,
    ) -> None:
        self.particles, self.weights, self.discrete = particles, weights, discrete
        self.continuous, self.step_table = continuous, steps

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Resample ``n`` particles by weight and move every block of each. Returns ``(n, d)``."""
        picks = rng.choice(len(self.particles), size=n, p=self.weights)
        out = self.particles[picks].copy()
        if self.continuous is not None:
            out[:, ~self.discrete] = self.continuous.perturb(picks, rng)
        for column, (steps, log_p) in zip(np.flatnonzero(self.discrete), self.step_table):
            out[:, column] += rng.choice(steps, size=n, p=np.exp(log_p))
        return out

    def log_density(self, theta: np.ndarray) -> np.ndarray:
        """``log sum_j w_j K_c(theta | particle_j) prod_c K_c(...)`` for ``theta (m, d)``."""
        return log_density_in_chunks(self._log_terms, theta, self.particles.shape)

    def _log_terms(self, theta: np.ndarray) -> np.ndarray:
        if self.continuous is None:
            terms = np.broadcast_to(np.log(self.weights), (len(theta), len(self.weights))).copy()
        else:
            terms = self.continuous.log_terms(theta[:, ~self.discrete])
        for column, (steps, log_p) in zip(np.flatnonzero(self.discrete), self.step_table):
            step = theta[:, column, None] - self.particles[None, :, column]  # (r, n)
            reach = steps[-1]
            inside = np.abs(step) <= reach
            index = np.where(inside, step + reach, 0).astype(np.int64)
            terms += np.where(inside, log_p[index], -np.inf)
        return terms


def mixed_proposal(
    kernel: Any,
    walk: DiscreteRandomWalk,
    discrete: np.ndarray,
    particles: np.ndarray,
    weights: np.ndarray,
    distances: np.ndarray,
    epsilon: float,
) -> MixedMixture:
    """The proposal of a population with discrete columns: ``kernel`` on the others.

    ``kernel.fit`` sees only the continuous columns (its bandwidth rule counts only them).
    """
    continuous = None
    if not discrete.all():
        continuous = kernel.fit(particles[:, ~discrete], weights, distances, epsilon)
        if not isinstance(continuous, GaussianMixture):
            raise TypeError(
                f"a kernel beside discrete parameters must fit a GaussianMixture (got "
                f"{type(continuous)} from {kernel!r}); use a built-in kernel with a mixed prior."
            )
    return MixedMixture(
        particles, weights, discrete, continuous, walk.steps(particles[:, discrete], weights)
    )
