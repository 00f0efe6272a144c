"""Maps between a prior's support and the real line, and a kernel's proposal through them.

Each parameter maps by its prior's bounds: logit for a box, ``log(x - low)`` for a lower bound,
``-log(high - x)`` for an upper bound, the identity for none. Regression adjustment moves
particles on the real line so that they never leave the support; PMC's kernel proposes there
(:class:`UnboundedProposal`), by default for parameters bounded on one side only.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

EDGE = 1e-12
"""How far inside its bounds a particle on a bound is moved before the transform."""


def to_unbounded(theta: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Map ``theta (n, d)`` with per-column ``bounds (d, 2)`` to the real line."""
    low, high = bounds[:, 0], bounds[:, 1]
    width = np.where(np.isfinite(high - low), high - low, 1.0)
    inside = np.clip(theta, low + EDGE * width, high - EDGE * width)
    with np.errstate(invalid="ignore", divide="ignore"):  # np.where computes every branch
        return _to_unbounded(theta, inside, low, high, width)


def _to_unbounded(
    theta: np.ndarray, inside: np.ndarray, low: np.ndarray, high: np.ndarray, width: np.ndarray
) -> np.ndarray:
    boxed = (inside - low) / width
    return np.where(
        np.isfinite(low) & np.isfinite(high),
        np.log(boxed) - np.log1p(-boxed),
        np.where(
            np.isfinite(low),
            np.log(inside - low),
            np.where(np.isfinite(high), -np.log(high - inside), theta),
        ),
    )


def from_unbounded(z: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_unbounded`."""
    low, high = bounds[:, 0], bounds[:, 1]
    width = np.where(np.isfinite(high - low), high - low, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(
            np.isfinite(low) & np.isfinite(high),
            low + width / (1.0 + np.exp(-z)),
            np.where(
                np.isfinite(low),
                low + np.exp(z),
                np.where(np.isfinite(high), high - np.exp(-z), z),
            ),
        )


def log_jacobian(theta: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """``log |d to_unbounded(theta) / d theta|`` per row of ``theta (n, d)`` inside the bounds."""
    low, high = bounds[:, 0], bounds[:, 1]
    width = np.where(np.isfinite(high - low), high - low, 1.0)
    theta = np.clip(theta, low + EDGE * width, high - EDGE * width)  # as to_unbounded maps it
    with np.errstate(invalid="ignore", divide="ignore"):  # np.where computes every branch
        boxed = (theta - low) / width
        terms = np.where(
            np.isfinite(low) & np.isfinite(high),
            -np.log(width) - np.log(boxed) - np.log1p(-boxed),
            np.where(
                np.isfinite(low),
                -np.log(theta - low),
                np.where(np.isfinite(high), -np.log(high - theta), 0.0),
            ),
        )
    return terms.sum(axis=1)


TRANSFORMS = ("log", "all", "none")
"""PMC's ``transform`` values: one-sided bounds mapped, every bound mapped, none."""


def check_transform(transform: Optional[str], discrete: bool) -> str:
    """``transform``, checked; None is ``'log'``, or ``'none'`` with ``discrete`` parameters.

    Raises
    ------
    ValueError
        If it is not one of :data:`TRANSFORMS`, or maps a prior with discrete parameters.
    """
    if transform is None:
        return "none" if discrete else "log"
    if transform not in TRANSFORMS:
        raise ValueError(
            f"transform must be 'log', 'all' or 'none' (got {transform!r}); e.g. transform='log'."
        )
    if transform != "none" and discrete:
        raise ValueError(
            f"transform={transform!r} maps continuous parameters to the real line, and this "
            "prior has discrete ones; pass transform='none'."
        )
    return transform


def mapped_bounds(bounds: np.ndarray, transform: str) -> Optional[np.ndarray]:
    """The bounds ``(d, 2)`` the map uses under ``transform``; None if it maps nothing.

    ``'log'`` leaves boxes unmapped (their bounds become the real line's), ``'all'`` maps every
    bound, ``'none'`` none.
    """
    bounds = np.array(bounds, dtype=np.float64)
    if transform == "log":
        bounds[np.isfinite(bounds).all(axis=1)] = (-np.inf, np.inf)
    if transform == "none" or np.isinf(bounds).all():
        return None
    return bounds


class UnboundedProposal:
    """A proposal fitted on the real line, drawn and evaluated on the prior's support.

    ``inner`` is a kernel's proposal fitted to ``to_unbounded(particles, bounds)``. Its draws
    are mapped back, so none leaves the support; the density of a draw ``theta`` is the inner
    density at ``z = to_unbounded(theta)`` times ``|dz / dtheta|``, which the importance
    weights divide by.
    """

    def __init__(self, inner: Any, bounds: np.ndarray):
        self.inner, self.bounds = inner, bounds

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws ``(n, d)`` on the support."""
        return from_unbounded(self.inner.sample(n, rng), self.bounds)

    def log_density(self, theta: np.ndarray) -> np.ndarray:
        """The log density of ``theta (m, d)`` on the support -> ``(m,)``."""
        z = to_unbounded(theta, self.bounds)
        return self.inner.log_density(z) + log_jacobian(theta, self.bounds)


def fit_proposal(
    kernel: Any, bounds: Optional[np.ndarray], particles: np.ndarray, *rest: Any
) -> Any:
    """``kernel`` fitted to ``particles`` and ``rest`` (weights, distances, epsilon): on the
    real line through the map of ``bounds`` (:func:`mapped_bounds`), or as they are if None."""
    if bounds is None:
        return kernel.fit(particles, *rest)
    return UnboundedProposal(kernel.fit(to_unbounded(particles, bounds), *rest), bounds)
