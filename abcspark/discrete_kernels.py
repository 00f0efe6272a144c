"""PMC proposals for discrete and mixed parameters: integer moves beside a Gaussian kernel.

A prior with `~abcspark.Poisson` or `~abcspark.Categorical` components has integer columns. PMC
proposes for them with a :class:`DiscreteRandomWalk` (or a :class:`DiscreteJump`) and for the
other columns with its (Gaussian) kernel, both from the same resampled particle: a kernel per
block of parameters. The proposal is a :class:`MixedMixture`, whose density the importance
weights use; proposals off the prior's support (a count below 0, a category beyond the last)
are dropped free, as any proposal outside the support.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Union

import numpy as np

from abcspark.kernels import GaussianMixture, log_density_in_chunks
from abcspark.validation import real
from abcspark.weighted import covariance


class DiscreteRandomWalk:
    """Integer steps for the discrete columns: a discrete Gaussian around each particle.

    Each discrete column ``c`` moves by an integer step ``s`` with probability
    ``exp(-s^2 / (2 h_c^2)) / Z(h_c)``, any integer ``s``, where ``h_c = max(min_width, scale *
    sd_c)`` and ``sd_c`` is the column's weighted sd in the population. With the default
    ``min_width=1`` a particle keeps its value with probability 0.40 at most and moves by one
    with 0.24 each way, so a population that has settled on one value still explores.

    Sampling and density cost the same at any width (a ``Poisson(1e12)`` prior as a
    ``Poisson(3)``): the normaliser ``Z(h)`` is in closed form, and the steps are drawn by
    rejection from a discrete Laplace, exactly (Canonne, Kamath and Steinke 2020, algorithm 3).
    A step's log probability is a quadratic, finite however far it goes, so importance
    weights never meet a zero density at a proposed point.

    Parameters
    ----------
    scale : float, default 1.0
        Width as a multiple of the weighted sd.
    min_width : float, default 1.0
        Smallest width ``h_c``.

    References
    ----------
    C. L. Canonne, G. Kamath and T. Steinke (2020). The discrete Gaussian for differential
    privacy. NeurIPS 33.

    Examples
    --------
    >>> walk = DiscreteRandomWalk()
    >>> steps = walk.fit(np.array([[0.0], [2.0]]), np.array([0.5, 0.5]))
    >>> steps.widths.tolist()
    [1.0]
    >>> np.exp(steps.log_mass(np.array([[0.0], [1.0], [2.0]]))).round(3).ravel().tolist()
    [0.399, 0.242, 0.054]
    """

    def __init__(self, scale: float = 1.0, min_width: float = 1.0) -> None:
        self.scale = real("scale", scale, 0, math.inf, open_low=True, open_high=True, example="1.0")
        self.min_width = real(
            "min_width", min_width, 0, math.inf, open_low=True, open_high=True, example="1.0"
        )

    def fit(self, values: np.ndarray, weights: np.ndarray) -> IntegerSteps:
        """The steps around a population whose discrete columns are ``values (n, m)``."""
        sd = np.sqrt(np.diag(covariance(values, weights)))
        return IntegerSteps(np.maximum(self.min_width, self.scale * sd))

    def to_dict(self) -> dict:
        """JSON-able description, saved in metadata and checkpoints."""
        return {"type": type(self).__name__, "scale": self.scale, "min_width": self.min_width}

    def __repr__(self) -> str:
        return f"DiscreteRandomWalk(scale={self.scale!r}, min_width={self.min_width!r})"


class IntegerSteps:
    """A fitted :class:`DiscreteRandomWalk`: a discrete Gaussian step of width ``widths[c]``.

    Parameters
    ----------
    widths : ndarray, shape (m,)
    """

    def __init__(self, widths: np.ndarray) -> None:
        self.widths = np.asarray(widths, dtype=np.float64)
        self.log_norm = np.array([log_normaliser(h) for h in self.widths])

    def log_mass(self, steps: np.ndarray) -> np.ndarray:
        """``log P(step)`` of integer ``steps (r, m)``, one column per discrete column."""
        return -0.5 * (steps / self.widths) ** 2 - self.log_norm

    def sample(self, start: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``start (n, m)`` moved by a step per entry."""
        steps = [discrete_gaussian(h, len(start), rng) for h in self.widths]
        return start + np.column_stack(steps) if steps else start.copy()

    def log_terms(self, theta: np.ndarray, particles: np.ndarray) -> np.ndarray:
        """``sum_c log P(theta[i, c] - particles[j, c])``, shape ``(r, n)``."""
        terms = np.zeros((len(theta), len(particles)))
        for c, (h, log_norm) in enumerate(zip(self.widths, self.log_norm)):
            step = theta[:, c, None] - particles[None, :, c]
            terms -= 0.5 * (step / h) ** 2 + log_norm
        return terms


def log_normaliser(h: float) -> float:
    """``log sum_s exp(-s^2 / (2 h^2))`` over all integers ``s``, in O(1).

    From ``h = 1`` Poisson's summation formula, ``sqrt(2 pi) h sum_k exp(-2 pi^2 h^2 k^2)``,
    is exact in double precision with its first two terms (the third is ``e^-79`` relative);
    below, the direct sum over ``|s| <= 10`` is (its first term left out is ``e^-60``).
    """
    if h >= 1:
        return math.log(math.sqrt(2 * math.pi) * h) + math.log1p(
            2 * math.exp(-2 * (math.pi * h) ** 2)
        )
    s = np.arange(-10.0, 11.0)
    return float(np.log(np.exp(-0.5 * (s / h) ** 2).sum()))


def discrete_gaussian(h: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` integer steps of the discrete Gaussian of width ``h``, ``(n,)`` int64.

    Canonne, Kamath and Steinke's rejection sampler: ``y`` from the discrete Laplace of scale
    ``t = floor(h) + 1`` (a difference of two geometric counts), kept with probability
    ``exp(-(|y| - h^2 / t)^2 / (2 h^2))``: 0.44 to 0.76 for widths 0.01 to 1e6 (measured),
    so at most about 2.3 tries a step. Rejected entries are redrawn in order: same ``rng``,
    same steps.
    """
    t = math.floor(h) + 1
    p = -math.expm1(-1.0 / t)
    out = np.zeros(n, dtype=np.int64)
    todo = np.arange(n)
    while todo.size:
        y = rng.geometric(p, todo.size) - rng.geometric(p, todo.size)
        keep = rng.random(todo.size) < np.exp(-0.5 * ((np.abs(y) - h * h / t) / h) ** 2)
        out[todo[keep]] = y[keep]
        todo = todo[~keep]
    return out


class DiscreteJump:
    """Jumps for the discrete columns: keep a particle's value, or jump to any other alike.

    A particle keeps each discrete value with probability ``stay``; otherwise it moves to one
    of the column's other values, each alike (pyABC's ``DiscreteJumpTransition``). The values
    are the integers from one below the population's smallest to one above its largest: every
    value the population holds, and one beyond either end, so a category the population lost
    at an edge can come back (one outside the prior's support is dropped free). Suits a
    `~abcspark.Categorical` whose order means nothing; a walk suits counts.

    Parameters
    ----------
    stay : float, default 0.7
        Probability of keeping the value, in [0, 1).

    Examples
    --------
    >>> jumps = DiscreteJump().fit(np.array([[1.0], [3.0]]), np.array([0.5, 0.5]))
    >>> (jumps.low.tolist(), jumps.high.tolist())
    ([0.0], [4.0])
    >>> np.exp(jumps.log_terms(np.array([[1.0], [2.0], [5.0]]), np.array([[1.0]]))).round(3)
    array([[0.7  ],
           [0.075],
           [0.   ]])
    """

    def __init__(self, stay: float = 0.7) -> None:
        self.stay = real("stay", stay, 0, 1, open_high=True, example="0.7")

    def fit(self, values: np.ndarray, weights: np.ndarray) -> Jumps:
        """The jumps of a population whose discrete columns are ``values (n, m)``."""
        return Jumps(values.min(axis=0) - 1, values.max(axis=0) + 1, self.stay)

    def to_dict(self) -> dict:
        """JSON-able description, saved in metadata and checkpoints."""
        return {"type": type(self).__name__, "stay": self.stay}

    def __repr__(self) -> str:
        return f"DiscreteJump(stay={self.stay!r})"


class Jumps:
    """A fitted :class:`DiscreteJump`: per column, the integers ``low[c]..high[c]``.

    Parameters
    ----------
    low, high : ndarray, shape (m,)
        Per discrete column, the smallest and the largest value a jump reaches.
    stay : float
        Probability of keeping the value.
    """

    def __init__(self, low: np.ndarray, high: np.ndarray, stay: float) -> None:
        self.low, self.high, self.stay = low, high, stay
        self.others = high - low  # how many values a jump can go to

    def sample(self, start: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``start (n, m)`` with each entry kept or moved to another value."""
        out = start.copy()
        for c, (low, others) in enumerate(zip(self.low, self.others)):
            moves = rng.random(len(start)) >= self.stay
            other = low + rng.integers(0, int(others), len(start))
            other += other >= start[:, c]  # skip the value it has
            out[:, c] = np.where(moves, other, start[:, c])
        return out

    def log_terms(self, theta: np.ndarray, particles: np.ndarray) -> np.ndarray:
        """``sum_c log P(theta[i, c] | particles[j, c])``, shape ``(r, n)``."""
        terms = np.zeros((len(theta), len(particles)))
        log_stay = math.log(self.stay) if self.stay > 0 else -math.inf
        for c, (low, high, others) in enumerate(zip(self.low, self.high, self.others)):
            inside = (low <= theta[:, c]) & (theta[:, c] <= high)
            log_move = np.where(inside, math.log((1 - self.stay) / others), -np.inf)
            same = theta[:, c, None] == particles[None, :, c]
            terms += np.where(same, log_stay, log_move[:, None])
        return terms


DiscreteKernel = Union[DiscreteRandomWalk, DiscreteJump]
"""The kernels ``discrete_kernel=`` takes."""


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
    moves : IntegerSteps or Jumps
        The discrete kernel fitted to the discrete columns (``DiscreteRandomWalk.fit``).
    """

    def __init__(
        self,
        particles: np.ndarray,
        weights: np.ndarray,
        discrete: np.ndarray,
        continuous: Optional[GaussianMixture],
        moves: Union[IntegerSteps, Jumps],
    ) -> None:
        self.particles, self.weights, self.discrete = particles, weights, discrete
        self.continuous, self.moves = continuous, moves

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Resample ``n`` particles by weight and move every block of each. Returns ``(n, d)``."""
        picks = rng.choice(len(self.particles), size=n, p=self.weights)
        out = self.particles[picks].copy()
        if self.continuous is not None:
            out[:, ~self.discrete] = self.continuous.perturb(picks, rng)
        out[:, self.discrete] = self.moves.sample(out[:, self.discrete], rng)
        return out

    def log_density(self, theta: np.ndarray) -> np.ndarray:
        """``log sum_j w_j K_c(theta | particle_j) prod_c K_c(...)`` for ``theta (m, d)``."""
        return log_density_in_chunks(self._log_terms, theta, self.particles.shape)

    def _log_terms(self, theta: np.ndarray) -> np.ndarray:
        if self.continuous is None:
            terms = np.broadcast_to(np.log(self.weights), (len(theta), len(self.weights))).copy()
        else:
            terms = self.continuous.log_terms(theta[:, ~self.discrete])
        return terms + self.moves.log_terms(
            theta[:, self.discrete], self.particles[:, self.discrete]
        )


def mixed_proposal(
    kernel: Any,
    walk: Union[DiscreteRandomWalk, DiscreteJump],
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
        particles, weights, discrete, continuous, walk.fit(particles[:, discrete], weights)
    )
