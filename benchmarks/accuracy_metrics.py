"""How far a method's posterior is from the exact one: C2ST, energy distance, mean error.

Every metric compares 10,000 draws of the method with 10,000 draws of the exact posterior, both
z-scored by the exact draws' mean and sd (ddof=1). A weighted population of particles becomes
10,000 draws through :func:`kde_draws` (or abcspark's ``Posterior.sample`` where it exists).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

N_DRAWS = 10_000
"""Draws on each side of every comparison (the C2ST protocol's number)."""


def standardise(draws: np.ndarray, exact: np.ndarray) -> tuple:
    """Both sides z-scored by the exact draws' mean and standard deviation (ddof=1)."""
    mean, sd = exact.mean(axis=0), exact.std(axis=0, ddof=1)
    return (draws - mean) / sd, (exact - mean) / sd


def c2st(draws: np.ndarray, exact: np.ndarray) -> float:
    """Classifier two-sample test accuracy: 0.5 indistinguishable, 1.0 fully separated.

    The simulation-based-inference benchmark's variant (Lueckmann et al. 2021, "Benchmarking
    simulation-based inference", AISTATS; their ``c2st``): an MLP with two hidden layers of
    10 * dim ReLU units, Adam, ``random_state=1``, accuracy of 5-fold shuffled
    cross-validation. Written here from that description. BLAS runs on one thread: the
    networks are small, the machine is shared, and the figure moves by about 0.003 with the
    threading (report two decimals).
    """
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    x, y = standardise(draws, exact)
    features = np.concatenate([x, y])
    labels = np.concatenate([np.zeros(len(x)), np.ones(len(y))])
    dim = features.shape[1]
    classifier = MLPClassifier(
        activation="relu",
        hidden_layer_sizes=(10 * dim, 10 * dim),
        max_iter=10_000,
        solver="adam",
        random_state=1,
    )
    folds = KFold(n_splits=5, shuffle=True, random_state=1)
    with threadpool_limits(limits=1):
        scores = cross_val_score(classifier, features, labels, cv=folds, scoring="accuracy")
    return float(np.mean(scores))


def energy_distance(draws: np.ndarray, exact: np.ndarray, n: int = 4_000) -> float:
    """Energy distance ``2 E|X - Y| - E|X - X'| - E|Y - Y'|`` of the z-scored draws.

    Zero only when the two distributions are equal (Szekely and Rizzo 2013). The first ``n``
    draws of each side (they are independent draws, so any subset is a random one), with the
    unbiased within-sample means that leave out the zero diagonal.
    """
    x, y = standardise(draws[:n], exact[:n])
    return float(2 * _mean_norm(x, y) - _mean_norm(x, x, True) - _mean_norm(y, y, True))


def _mean_norm(a: np.ndarray, b: np.ndarray, same: bool = False, chunk: int = 500) -> float:
    total = 0.0
    for start in range(0, len(a), chunk):
        diff = a[start : start + chunk, None, :] - b[None, :, :]
        total += np.sqrt((diff * diff).sum(axis=-1)).sum()
    pairs = len(a) * (len(b) - 1) if same else len(a) * len(b)
    return total / pairs


def mean_error(draws: np.ndarray, exact: np.ndarray) -> float:
    """Root mean square over parameters of the error of the posterior mean, in exact sds."""
    x, _ = standardise(draws, exact)
    return float(np.sqrt(np.mean(x.mean(axis=0) ** 2)))


def kde_draws(
    particles: np.ndarray,
    weights: np.ndarray,
    n: int,
    in_support: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
    log_columns: Sequence[bool] = (),
) -> np.ndarray:
    """``n`` draws of a weighted Gaussian kernel density estimate, kept inside the support.

    Each draw picks a particle by weight and adds Gaussian noise with covariance ``h^2 C``, C
    the weighted covariance of the particles and h chosen by :func:`bandwidth`. Draws outside
    the prior's support are drawn again, which is sampling the estimate truncated to it. The
    ``log_columns`` (positive parameters) are smoothed on the log scale, where a skewed
    posterior is nearer a Gaussian and no kernel crosses zero.
    """
    logs = np.zeros(particles.shape[1], dtype=bool)
    logs[: len(log_columns)] = log_columns
    if logs.any():
        particles = particles.copy()
        particles[:, logs] = np.log(particles[:, logs])
        draws = kde_draws(particles, weights, n, lambda x: np.ones(len(x), dtype=bool), rng)
        draws[:, logs] = np.exp(draws[:, logs])
        if not in_support(draws).all():
            raise ValueError("only the log columns may be bounded, and only below by zero")
        return draws
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    d = particles.shape[1]
    centred = particles - w @ particles
    cov = (centred * w[:, None]).T @ centred
    chol = np.linalg.cholesky(cov + 1e-12 * np.trace(cov) * np.eye(d))
    h = bandwidth(np.linalg.solve(chol, centred.T).T, w)
    out = np.empty((n, d))
    missing = np.arange(n)
    for _ in range(1000):
        picks = rng.choice(len(w), size=len(missing), p=w)
        proposal = particles[picks] + h * rng.standard_normal((len(missing), d)) @ chol.T
        inside = in_support(proposal)
        out[missing[inside]] = proposal[inside]
        missing = missing[~inside]
        if len(missing) == 0:
            return out
    raise ValueError("the kernel density estimate must put mass inside the prior's support")


def bandwidth(white: np.ndarray, w: np.ndarray) -> float:
    """The kernel's scale h for whitened particles ``white (n, d)`` with weights ``w``.

    Silverman's rule, ``(4 / (d + 2))^(1 / (d + 4)) ESS^(-1 / (d + 4))``, is right for one
    Gaussian bump and smears a bimodal or curved posterior (its crescents fill in, and C2ST
    rises by far more than the method's error). So h is the one among 0.05 to 1.5 times
    Silverman's that maximises the weighted leave-one-out log likelihood of the particles.
    """
    n, d = white.shape
    ess = 1.0 / np.sum(w**2)
    silverman = (4.0 / (d + 2)) ** (1.0 / (d + 4)) * ess ** (-1.0 / (d + 4))
    sq = (white * white).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * white @ white.T, 0.0)
    np.fill_diagonal(d2, np.inf)
    best, best_score = silverman, -np.inf
    for h in silverman * np.geomspace(0.05, 1.5, 30):
        log_k = -0.5 * d2 / h**2 - d * np.log(h) + np.log(w)[None, :]
        top = log_k.max(axis=1, keepdims=True)
        loo = top[:, 0] + np.log(np.exp(log_k - top).sum(axis=1)) - np.log1p(-w)
        score = float(w @ loo)
        if score > best_score:
            best, best_score = h, score
    return best
