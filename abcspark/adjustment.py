"""Regression adjustment: correct accepted particles for how far their statistics missed.

Two methods, both moving each particle to where its statistics would have hit the observed
ones by a regression weighted by :func:`kernel_weights`:

- :func:`local_linear` (Beaumont, Zhang and Balding 2002): a weighted linear regression of the
  parameters on the statistics' differences to the observed ones, and a shift along its slope
  (ridge-penalised by leave-one-out error and the error at the observation,
  :func:`ridge_slopes`, so that few particles for many statistics do not move them by noise);
- :func:`neural` (Blum and Francois 2010): a small neural network for the conditional mean and
  another for the conditional log-variance, so that the shift is non-linear and the spread is
  rescaled (heteroscedastic). It needs scikit-learn (``pip install 'abcspark[adjust]'``).

Bounded parameters are adjusted in a transformed space (:mod:`abcspark.transforms`: logit
for a box, log for one bound), so adjusted particles never leave the prior's support.
"""

from __future__ import annotations

import warnings
from typing import List, Optional, Sequence, Tuple

import numpy as np

from abcspark._version import release
from abcspark.transforms import from_unbounded, to_unbounded
from abcspark.weighted import ess, standardisation

METHODS = {"linear": "local-linear", "neural": "neural"}
"""The methods of :func:`adjusted`, and the name each leaves in a posterior's metadata."""
KERNELS = ("rectangular", "epanechnikov")
"""How the regressions weigh the particles (:func:`kernel_weights`); the first is the default."""
NETWORKS = 5
"""Networks averaged for each regression (with different seeds), as the R package abc does."""
HIDDEN = 8
"""Hidden units of each network's one layer, or twice its outputs where that is more: a layer
narrower than the outputs cannot carry a full-rank linear map (measured: in 10 dimensions, 8
units left the adjusted posterior about 40 times farther from the exact one than 20)."""
MIN_ESS = 1000
"""Below this effective sample size the networks fit noise: :func:`neural` warns."""
DECAY = 1e-3
"""The networks' L2 penalty (scikit-learn's ``alpha``) on standardised inputs and outputs."""


def adjusted(
    method: str,
    theta: np.ndarray,
    stats: Optional[np.ndarray],
    observed: Optional[Sequence[float]],
    distances: np.ndarray,
    weights: np.ndarray,
    bounds: np.ndarray,
    seed: int = 0,
    kernel: str = KERNELS[0],
) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`local_linear` (``method='linear'``) or :func:`neural` (``'neural'``), weighted by
    :func:`kernel_weights` (``kernel``).

    Raises
    ------
    ValueError
        For another method or kernel, or without the particles' statistics or the observed ones.
    ImportError
        For ``'neural'`` without scikit-learn 1.7 or later (its networks take weights).
    """
    if method not in METHODS:
        raise ValueError(
            f"method must be one of {sorted(METHODS)} (got {method!r}); 'linear' is "
            "local-linear regression, 'neural' the non-linear one."
        )
    if kernel not in KERNELS:
        raise ValueError(
            f"kernel must be one of {list(KERNELS)} (got {kernel!r}); 'rectangular' weighs "
            "each particle by its importance weight alone, 'epanechnikov' also by its distance."
        )
    if stats is None or observed is None:
        raise ValueError(
            "adjust needs the particles' simulated statistics and the observed ones (got "
            f"statistics {'none' if stats is None else 'kept'}); run with "
            "keep_statistics=True and a vectorized simulator."
        )
    target = np.asarray(observed, dtype=np.float64)
    weighted = kernel_weights(kernel, distances, weights)
    if method == "linear":
        return local_linear(theta, stats, target, weighted, bounds)
    _require_networks()
    return neural(theta, stats, target, weighted, bounds, seed)


def kernel_weights(kernel: str, distances: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The regression's normalised weights, which the adjusted particles keep.

    ``'rectangular'``: the importance weights alone, every accepted particle as it weighs;
    ``'epanechnikov'``: times :func:`epanechnikov`'s, the farther the less (Beaumont et al.
    2002). A PMC population is already inside its last epsilon: the Epanechnikov weights cost
    it effective sample size for a bias the regression corrects. On ``benchmarks/accuracy.py``'s
    four models at 1e3-1e6 simulations the rectangular kernel came closer to the exact
    posterior on average in 22 of 24 cells, the other two farther within noise (README).
    """
    return epanechnikov(distances, weights) if kernel == "epanechnikov" else weights / weights.sum()


def epanechnikov(distances: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Normalised ``w (1 - (distance / h)^2)``, with the largest distance as bandwidth ``h``.

    Every particle inside the bandwidth counts (the farthest with a tiny weight).
    """
    h = distances.max() * (1.0 + 1e-9)
    kernel = weights * (1.0 - (distances / h) ** 2) if h > 0 else weights.copy()
    return kernel / kernel.sum()


def local_linear(
    theta: np.ndarray,
    stats: np.ndarray,
    observed: np.ndarray,
    kernel: np.ndarray,
    bounds: np.ndarray,
) -> Tuple[np.ndarray, np.ndarray]:
    """Adjusted particles ``(n, d)`` and their weights ``(n,)``, ``kernel`` (normalised).

    The slopes are :func:`ridge_slopes`': least squares where the statistics predict a
    parameter, shrunk towards none where they predict it no better than its mean (on
    ``benchmarks/accuracy.py``'s SIR model at 1e3 simulations, with 36-111 particles for 20
    statistics, least squares left the posterior 3.6 times farther from the exact one than no
    adjustment; the penalty, 1.5 times).

    References
    ----------
    Beaumont, M. A., Zhang, W. and Balding, D. J. (2002). Approximate Bayesian computation in
    population genetics. Genetics 162(4), 2025-2035.
    """
    z = to_unbounded(theta, bounds)
    adjusted = z - (stats - observed) @ ridge_slopes(stats - observed, z, kernel)
    return from_unbounded(adjusted, bounds), kernel


def ridge_slopes(x: np.ndarray, z: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Slopes ``(p, d)`` of the ``kernel``-weighted regression of each column of ``z`` on ``x``,
    ridge-penalised by leave-one-out error and the error at the observation.

    For each parameter, the smallest penalty of :data:`PENALTIES` whose :func:`ridge` fit has
    a weighted leave-one-out error plus an estimated squared error at the observation within
    :data:`TOLERANCE` of the least. A regression on nearly as many statistics as there are
    particles that count fits them all and predicts none: the penalty, up to no slope at all,
    keeps it from moving the particles by its noise; the error at the observation keeps it
    from shrinking slopes that the particles' centre needs (on the 10-d Gaussian at 1e3
    simulations, closer in 19 of 24 runs than by leave-one-out error alone: README).
    """
    slopes, press, at_observation = ridge(x, z, kernel, PENALTIES)
    error = press + at_observation
    chosen = np.argmax(error <= error.min(axis=0) * (1 + TOLERANCE), axis=0)
    return slopes[chosen, :, np.arange(z.shape[1])].T


def ridge(
    x: np.ndarray, z: np.ndarray, kernel: np.ndarray, factors: Sequence[float]
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slopes ``(f, p, d)`` of the ``kernel``-weighted ridge regression of ``z`` on ``x``, with
    an intercept, at each of ``f`` penalty ``factors``; each fit's weighted leave-one-out
    squared error per column ``(f, d)``, and the squared error of its prediction at ``x = 0``
    (the observation) estimated per column ``(f, d)``.

    A penalty is its factor times the largest squared singular value of ``x``, centred and
    scaled by its weighted moments and weighted by the root of ``kernel`` (decomposed once for
    all factors): 0 is least squares, infinity the weighted mean (no slope). The leave-one-out
    error is PRESS, each residual over one minus its particle's leverage; a particle with
    leverage 1 makes it infinite. The error at the observation is the prediction's variance
    there (the noise, estimated as the least PRESS, through the fit's leverage at ``x = 0``)
    plus its squared bias, estimated as its squared gap to least squares' prediction less that
    gap's variance (at least 0); the intercept's variance, the same for every penalty, is left
    out. PRESS sees a fit's error where the particles are; the observation may lie where few
    of them are.
    """
    root = np.sqrt(kernel)[:, None]
    centre = kernel @ x
    xc, zc = x - centre, z - kernel @ z
    scale = np.sqrt(kernel @ xc**2)
    scale = np.where(scale > 0, scale, 1.0)  # a constant statistic gets no slope either way
    xs = xc / scale
    u, singular, vt = np.linalg.svd(xs * root, full_matrices=False)
    keep = singular > singular.max(initial=0.0) * max(x.shape) * np.finfo(float).eps
    u, singular, vt = u[:, keep], singular[keep], vt[keep]
    projected = u.T @ (zc * root)
    offset = vt @ (-centre / scale)  # the observation, x = 0, in the fit's coordinates
    squared = u**2
    spread = offset**2 * (squared.T @ kernel)  # per component, its variance at x = 0 per unit noise
    slopes, press, variance, gaps = [], [], [], []
    for factor in factors:
        shrink = np.zeros_like(singular)
        if factor < np.inf:
            shrink = singular**2 / (singular**2 + factor * singular.max(initial=0.0) ** 2)
        kept, dropped = shrink / singular, (1 - shrink) / singular  # of least squares' 1 / s
        variance.append((kept**2 @ spread, dropped**2 @ spread))
        gaps.append((dropped * offset) @ projected)  # to least squares' prediction
        beta = vt.T @ (kept[:, None] * projected)
        leverage = kernel + squared @ shrink
        missed = (zc - xs @ beta) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            loo = np.where(
                (leverage < 1 - 1e-9)[:, None], missed / (1 - leverage[:, None]) ** 2, np.inf
            )
        slopes.append(beta / scale[:, None])
        press.append(kernel @ np.where(kernel[:, None] > 0, loo, 0.0))
    noise = np.min(press, axis=0)
    noise[~np.isfinite(noise)] = 0.0  # all kernel on one particle: every PRESS infinite
    at_observation = [
        noise * own + np.maximum(0.0, gap**2 - noise * other)
        for (own, other), gap in zip(variance, gaps)
    ]
    return np.array(slopes), np.array(press), np.array(at_observation)


PENALTIES = (0.0, *(10.0 ** np.arange(-6, 3)), np.inf)
"""Ridge penalties :func:`ridge_slopes` chooses among, as factors of the largest squared
singular value of the weighted, standardised statistics (:func:`ridge`)."""
TOLERANCE = 0.01
"""A larger penalty is taken only if it lowers the summed error (leave-one-out and at the
observation) by more than this share: where the statistics explain little of a population's
spread it hardly moves with the penalty, yet the slope still corrects the particles' centre."""


def neural(
    theta: np.ndarray,
    stats: np.ndarray,
    observed: np.ndarray,
    kernel: np.ndarray,
    bounds: np.ndarray,
    seed: int = 0,
) -> Tuple[np.ndarray, np.ndarray]:
    """Adjusted particles ``(n, d)`` and their weights ``(n,)``, ``kernel``, non-linearly.

    On standardised statistics ``x`` and transformed, standardised parameters ``z``: fit
    ``m(x) = E[z | x]``, then ``g(x) = E[log (z - m(x))^2 | x]``, each an average of
    :data:`NETWORKS` one-layer networks weighted by ``kernel``, and move each
    particle to ``m(x_obs) + (z - m(x)) exp((g(x_obs) - g(x)) / 2)``. The same ``seed`` gives
    the same particles.

    References
    ----------
    Blum, M. G. B. and Francois, O. (2010). Non-linear regression models for approximate
    Bayesian computation. Statistics and Computing 20(1), 63-73.
    """
    if (size := ess(kernel)) < MIN_ESS:
        warnings.warn(
            f"the neural adjustment fits its networks to an effective sample size of {size:.0f}"
            f", below {MIN_ESS}: measured on PMC populations of 300 it was 1.6-17 times "
            "farther from the exact posterior than method='linear'; use 'linear', or more "
            "particles.",
            UserWarning,
            stacklevel=4,  # the caller of Posterior.adjust
        )
    centre, scale = standardisation(stats)
    x, x_obs = (stats - centre) / scale, ((observed - centre) / scale)[None, :]
    z = to_unbounded(theta, bounds)
    z_centre, z_scale = standardisation(z)
    z = (z - z_centre) / z_scale
    mean, mean_obs = _fit(x, z, kernel, x_obs, [seed, 0])
    residuals = z - mean
    log_var, log_var_obs = _fit(x, np.log(residuals**2 + 1e-12), kernel, x_obs, [seed, 1])
    adjusted = mean_obs + residuals * np.exp((log_var_obs - log_var) / 2.0)
    return from_unbounded(adjusted * z_scale + z_centre, bounds), kernel


def _fit(
    x: np.ndarray, y: np.ndarray, kernel: np.ndarray, x_obs: np.ndarray, key: List[int]
) -> Tuple[np.ndarray, np.ndarray]:
    """The networks' average prediction ``(n, d)`` at ``x`` and ``(1, d)`` at ``x_obs``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    at_x, at_obs = np.zeros_like(y), np.zeros((1, y.shape[1]))
    for k in range(NETWORKS):
        state = int(np.random.SeedSequence([*key, k]).generate_state(1)[0])
        network = MLPRegressor(
            hidden_layer_sizes=(max(HIDDEN, 2 * y.shape[1]),),
            solver="lbfgs",
            alpha=DECAY,
            max_iter=500,
            random_state=state,
        )
        with warnings.catch_warnings():  # lbfgs stopping at max_iter is the intended smoothing
            warnings.simplefilter("ignore", ConvergenceWarning)
            network.fit(x, y[:, 0] if y.shape[1] == 1 else y, sample_weight=kernel * len(y))
        at_x += network.predict(x).reshape(y.shape) / NETWORKS
        at_obs += network.predict(x_obs).reshape(1, -1) / NETWORKS
    return at_x, at_obs


def _require_networks() -> None:
    try:
        import sklearn
    except ImportError:
        sklearn = None
    if sklearn is None or release(sklearn.__version__) < (1, 7):
        raise ImportError(
            "adjust(method='neural') needs scikit-learn 1.7 or later, whose networks take "
            f"weights (got {sklearn.__version__ if sklearn else 'none'}); pip install "
            "'abcspark[adjust]', or use method='linear'."
        )
