"""`Prior`: the independent product of named distributions, one column per parameter."""

from __future__ import annotations

import numpy as np

from abcspark.continuous import Beta, Gamma, LogNormal, Normal, TruncatedNormal, Uniform
from abcspark.discrete import Categorical, Poisson
from abcspark.distributions import Distribution, as_rows, check_draw
from abcspark.multivariate import MultivariateNormal
from abcspark.rows import RESERVED
from abcspark.scipy_prior import ScipyDistribution, is_scipy_frozen

__all__ = [
    "RESERVED_NAMES",
    "Prior",
    "Distribution",
    "Beta",
    "Categorical",
    "Gamma",
    "LogNormal",
    "MultivariateNormal",
    "Normal",
    "Poisson",
    "ScipyDistribution",
    "TruncatedNormal",
    "Uniform",
]

RESERVED_NAMES = RESERVED
"""Column names of the batch rows and of saved posteriors, which parameters cannot take."""


class Prior:
    """Independent product of named components: the prior of the parameter vector theta.

    Parameters
    ----------
    **named : Distribution or frozen scipy.stats distribution
        One component per parameter; their order is the column order of theta. A frozen
        ``scipy.stats`` distribution (``scipy.stats.norm(0, 1)``) is wrapped in a
        `ScipyDistribution`.

    Attributes
    ----------
    names : list of str
        Column names: a scalar component's name; ``x_0``, ..., ``x_{d-1}`` for a
        `MultivariateNormal` called ``x``.
    dim : int
        Number of columns, ``len(names)``.
    discrete_names : list of str
        The columns of discrete components.
    components : dict of str to Distribution

    Raises
    ------
    TypeError
        If a component is neither a `Distribution` nor a frozen univariate scipy distribution.
    ValueError
        If there is no component, a name is in `RESERVED_NAMES` or starts with ``_``, or two
        columns share a name.

    Examples
    --------
    >>> import numpy as np
    >>> prior = Prior(mu=Uniform(150, 200), sigma=Uniform(5, 25))
    >>> prior.names
    ['mu', 'sigma']
    >>> theta = prior.sample(1000, np.random.default_rng(0))
    >>> theta.shape
    (1000, 2)
    >>> prior.log_pdf([[175.0, 10.0], [100.0, 10.0]]).round(3).tolist()
    [-6.908, -inf]
    """

    def __init__(self, **named: Distribution) -> None:
        if not named:
            raise ValueError(
                "Prior must have at least one component (got none); pass e.g. "
                "Prior(mu=Uniform(0, 1))."
            )
        self.components: dict[str, Distribution] = {}
        self.names: list[str] = []
        self.discrete_names: list[str] = []
        for name, dist in named.items():
            dist = ScipyDistribution(dist) if is_scipy_frozen(dist) else dist
            _check_component(name, dist)
            columns = [f"{name}_{i}" for i in range(dist.dim)] if dist._vector else [name]
            self.components[name] = dist
            self.names += columns
            self.discrete_names += columns if dist.discrete else []
        self.dim = len(self.names)
        repeated = sorted({c for c in self.names if self.names.count(c) > 1})
        if repeated:
            raise ValueError(
                f"Prior column names must be unique (got {repeated} more than "
                "once); rename a component."
            )

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` vectors, shape (n, dim): components in order, all from ``rng``."""
        check_draw(n, rng)
        return np.concatenate([d.sample(n, rng) for d in self.components.values()], axis=1)

    def log_pdf(self, theta: np.ndarray) -> np.ndarray:
        """Sum of the components' log densities of ``theta``, shape (n, dim): shape (n,).

        ``-inf`` where any component is outside its support.
        """
        with np.errstate(invalid="ignore"):
            total = np.sum([d.log_pdf(block) for d, block in self._blocks(theta)], axis=0)
        total[np.isnan(total)] = -np.inf  # a density pole (+inf) times a zero density (-inf)
        return total

    def in_support(self, theta: np.ndarray) -> np.ndarray:
        """Whether each row of ``theta``, shape (n, dim), is in the support: bool, shape (n,)."""
        return np.logical_and.reduce([d.in_support(block) for d, block in self._blocks(theta)])

    def bounds(self) -> np.ndarray:
        """The support's lower and upper bound of each column, shape (dim, 2) (inf if none)."""
        return np.array(
            [list(d._bounds) for d in self.components.values() for _ in range(d.dim)],
            dtype=np.float64,
        )

    def to_dict(self) -> dict:
        """JSON-able ``{name: component.to_dict()}``, keys in column order."""
        return {name: dist.to_dict() for name, dist in self.components.items()}

    def __repr__(self) -> str:
        return "Prior(" + ", ".join(f"{k}={v!r}" for k, v in self.components.items()) + ")"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Prior):
            return NotImplemented
        return list(self.to_dict().items()) == list(other.to_dict().items())

    def __hash__(self) -> int:
        return hash(repr(self))

    def _blocks(self, theta: np.ndarray) -> list[tuple[Distribution, np.ndarray]]:
        theta, start, blocks = as_rows("Prior", theta, self.dim), 0, []
        for dist in self.components.values():
            blocks.append((dist, theta[:, start : start + dist.dim]))
            start += dist.dim
        return blocks


def _check_component(name: str, dist: object) -> None:
    if not isinstance(dist, Distribution):
        raise TypeError(
            f"Prior component {name!r} must be a Distribution (got {dist!r} that is a "
            f"{type(dist)}); use e.g. Uniform(0, 1) or a frozen scipy.stats.uniform(0, 1)."
        )
    if name in RESERVED_NAMES or name.startswith("_"):
        raise ValueError(
            f"Prior component names must not be one of {RESERVED_NAMES} nor start with '_' "
            f"(got {name!r}); rename it, e.g. to 'p_{name.lstrip('_')}'."
        )
