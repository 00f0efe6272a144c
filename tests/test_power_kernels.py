"""Tests with power for PMC's kernels and PMCABC's arguments: the audit's surviving mutants.

benchmarks/MUTATION.md ("Missing tests") lists the surviving mutants of the statistical core and
the test that would kill each; this module writes those of ``kernels.py`` (T5-T11) and
``algorithms/pmc.py`` (T2-T4). Each test names, in its docstring, the entries it covers.

Every expected covariance is written out by hand from the kernel's definition (Beaumont et al.
2009; Filippi et al. 2013) with plain numpy; no Spark, and PMC runs use the in-process engine.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from abcspark import PMCABC, Prior, Uniform, kernels
from abcspark.kernels import GaussianKernel, LocalKernel, OLCMKernel


def population(n: int = 40, seed: int = 2024) -> tuple:
    """``n`` correlated 2-D particles, uneven normalised weights, distances in [0, 1)."""
    rng = np.random.default_rng(seed)
    particles = rng.multivariate_normal([1.0, -2.0], [[1.0, 0.6], [0.6, 2.0]], size=n)
    weights = rng.uniform(0.5, 1.5, n)
    return particles, weights / weights.sum(), rng.uniform(0.0, 1.0, n)


def weighted_cov(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``sum_k w_k (x_k - m)(x_k - m)^T`` with ``m = sum_k w_k x_k`` (weights sum to one)."""
    centred = x - w @ x
    return (centred * w[:, None]).T @ centred


def covariances(mixture: kernels.GaussianMixture) -> np.ndarray:
    """The covariances a fitted mixture uses, ``L L^T`` of its Cholesky factors."""
    chol = mixture.chol
    return chol @ np.swapaxes(chol, -1, -2)


def exact(message: str) -> str:
    """A ``match`` pattern for the whole message.

    ``a number > 0`` also matches ``a finite number > 0``: the fix of B15 (``scale=inf``
    accepted, tests/test_properties.py) adds that word while these tests are written.
    """
    pattern = re.escape(message).replace(re.escape("a number >"), "a (finite )?number >")
    return "^" + pattern + "$"


# --- T5: the ridge of a degenerate covariance --------------------------------------------------


def ridged_cholesky_2d(s: float, u: tuple) -> np.ndarray:
    """Cholesky factor of ``C = s u u^T + r I`` with ``r = 1e-10 max(diag C)``, in closed form.

    ``det C = r s |u|^2 + r^2`` is written without the cancellation a numerical factor has.
    """
    u1, u2 = u
    r = 1e-10 * s * max(u1 * u1, u2 * u2)
    c11, c21 = s * u1 * u1 + r, s * u1 * u2
    l11 = math.sqrt(c11)
    det = r * s * (u1 * u1 + u2 * u2) + r * r
    return np.array([[l11, 0.0], [c21 / l11, math.sqrt(det / c11)]])


def test_cholesky_ridge_of_one_singular_covariance_below_one():
    """T5: a singular (2, 2) covariance of scale 1e-4 gets the ridge ``1e-10 * max diag``.

    Kills kernels.py ``_cholesky`` #2-#10, #12-#19, #21-#27 that one matrix can see (the axes of
    ``np.diagonal`` and ``max``, the ridge's factor, ``maximum(..., 1.0)``, ``cov - ridge``).
    """
    cov = np.array([[1e-4, 1e-4], [1e-4, 1e-4]])
    np.testing.assert_allclose(
        kernels._cholesky(cov), ridged_cholesky_2d(1e-4, (1.0, 1.0)), rtol=1e-5, atol=0
    )


def test_cholesky_ridge_of_a_stack_of_singular_covariances_of_different_scales():
    """T5: a stack ``(3, 2, 2)``: each matrix gets the ridge of its own diagonal.

    Kills kernels.py ``_cholesky`` #11 (``axis2=+1``) and #20 (``max(axis=None)``: the largest
    scale's ridge for every matrix), which only a stack can see.
    """
    cases = [(1e-4, (1.0, 1.0)), (1.0, (1.0, 2.0)), (1e6, (3.0, -1.0))]
    stack = np.array([s * np.outer(u, u) for s, u in cases])
    got = kernels._cholesky(stack)
    for k, (s, u) in enumerate(cases):
        np.testing.assert_allclose(got[k], ridged_cholesky_2d(s, u), rtol=1e-5, atol=0)


def test_gaussian_kernel_on_particles_on_a_line_has_a_finite_density():
    """T5: particles on a line have a singular covariance; the ridge keeps the density finite.

    The density at each particle is the mixture with ``2 C + 1e-10 max(diag 2C) I``, by hand.
    """
    t = np.linspace(-1.0, 1.0, 9)
    particles, weights = np.column_stack([t, 2.0 * t]), np.full(9, 1.0 / 9)
    mixture = GaussianKernel().fit(particles, weights, np.zeros(9), 1.0)
    cov = 2.0 * weighted_cov(particles, weights)
    cov = cov + 1e-10 * cov.diagonal().max() * np.eye(2)
    diff = particles[:, None, :] - particles[None, :, :]
    quad = np.einsum("rni,ij,rnj->rn", diff, np.linalg.inv(cov), diff)
    log_terms = np.log(weights) - 0.5 * np.log(np.linalg.det(2 * np.pi * cov)) - 0.5 * quad
    expected = np.log(np.exp(log_terms - log_terms.max()).sum(axis=1)) + log_terms.max()
    got = mixture.log_density(particles)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-6)


# --- T6: OLCM's edges -----------------------------------------------------------------------


def olcm_by_hand(particles, weights, distances, epsilon) -> np.ndarray:
    """Filippi et al.: ``C_j = sum_{k: d_k <= eps} w~_k (x_k - x_j)(x_k - x_j)^T``."""
    near = distances <= epsilon
    w = weights[near] / weights[near].sum()
    return np.array(
        [
            sum(wk * np.outer(xk - xj, xk - xj) for wk, xk in zip(w, particles[near]))
            for xj in particles
        ]
    )


def test_olcm_counts_a_particle_exactly_at_epsilon_as_close():
    """T6: ``epsilon`` equal to a particle's distance: that particle is among the close ones.

    Kills kernels.py ``OLCMKernel.fit`` #2 (``distances < epsilon``).
    """
    particles, weights, distances = population()
    epsilon = float(np.sort(distances)[3])  # four particles close, one of them on the edge
    got = covariances(OLCMKernel().fit(particles, weights, distances, epsilon))
    np.testing.assert_allclose(
        got, olcm_by_hand(particles, weights, distances, epsilon), rtol=1e-9, atol=1e-12
    )


def test_olcm_below_every_distance_uses_the_closest_particle_alone():
    """T6: with no particle within ``epsilon``, ``C_j = (x_min - x_j)(x_min - x_j)^T``.

    These are rank one, so the ridge (``1e-10`` of the diagonal) is all they differ by. Kills
    kernels.py ``OLCMKernel.fit`` #4 (``close = None``) and #5 (``< min``: nothing close, 0/0).
    """
    particles, weights, distances = population()
    closest = particles[np.argmin(distances)]
    expected = np.array([np.outer(closest - x, closest - x) for x in particles])
    got = covariances(OLCMKernel().fit(particles, weights, distances, distances.min() / 2))
    assert np.isfinite(got).all()
    scale = expected.max(axis=(1, 2))[:, None, None]
    assert (np.abs(got - expected) <= 1e-9 * scale + 1e-300).all()


# --- T7, T8: LocalKernel's arguments and its d + 1 floor -------------------------------------

BAD_LOCAL = [
    ({"k_fraction": 0}, "k_fraction must be a number in (0, 1] (got 0); e.g. k_fraction=0.25."),
    (
        {"k_fraction": 1.5},
        "k_fraction must be a number in (0, 1] (got 1.5); e.g. k_fraction=0.25.",
    ),
    ({"scale": 0}, "scale must be a number > 0 (got 0); e.g. scale=1.0."),
    ({"scale": -1}, "scale must be a number > 0 (got -1); e.g. scale=1.0."),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_LOCAL)
def test_local_kernel_refuses_bad_arguments_with_the_exact_message(kwargs, message):
    """T7: ``k_fraction`` in (0, 1] and ``scale`` > 0, each refused with its message.

    Kills kernels.py ``LocalKernel.__init__`` #8, #13, #14, #19, #20 (``k_fraction``'s
    interval) and #26, #30, #31, #36 (``scale``'s), and the wording ones (#4, #9, #15-#17, #21,
    #23, #27, #32-#34, #37, E1) through the whole message.
    """
    with pytest.raises(ValueError, match=exact(message)):
        LocalKernel(**kwargs)


def test_local_kernel_accepts_the_closed_end_of_its_interval():
    """T7: ``k_fraction=1`` (every particle a neighbour) is allowed: (0, 1] is closed at 1."""
    assert LocalKernel(k_fraction=1).k_fraction == 1.0


def test_gaussian_kernel_refuses_a_zero_scale_with_the_exact_message():
    """Kills kernels.py ``GaussianKernel.__init__`` #9, #14, #19 (its example, E1)."""
    message = "scale must be a number > 0 (got 0); e.g. scale=2.0."
    with pytest.raises(ValueError, match=exact(message)):
        GaussianKernel(0)


def local_by_hand(particles, weights, k: int, scale: float = 1.0) -> np.ndarray:
    """The weighted covariance of each particle's ``k`` nearest (itself included), sd-scaled."""
    scaled = particles / particles.std(axis=0)
    gaps = ((scaled[:, None, :] - scaled[None, :, :]) ** 2).sum(axis=2)
    nearest = np.argsort(gaps, axis=1, kind="stable")[:, :k]
    w = weights[nearest] / weights[nearest].sum(axis=1, keepdims=True)
    x = particles[nearest]
    centred = x - np.einsum("nk,nkd->nd", w, x)[:, None, :]
    return scale * np.einsum("nk,nki,nkj->nij", w, centred, centred)


def test_local_kernel_takes_at_least_d_plus_one_neighbours():
    """T8: ``k_fraction=0.05`` of 40 is 2 < d + 1 = 3: each covariance is of 3 neighbours.

    Kills kernels.py ``LocalKernel.fit`` #11 (``d - 1``: 2 neighbours, a singular covariance)
    and #12 (``d + 2``: 4).
    """
    particles, weights, distances = population()
    kernel = LocalKernel(k_fraction=0.05, scale=1.5)
    got = covariances(kernel.fit(particles, weights, distances, 0.5))
    np.testing.assert_allclose(got, local_by_hand(particles, weights, 3, 1.5), rtol=1e-9)


# --- T9, T10, T11: chunks, a large population, repr --------------------------------------------


@pytest.mark.parametrize("chunk_floats", [40, 7 * 40])
def test_local_kernel_chunked_equals_unchunked(monkeypatch, chunk_floats):
    """T9: one row per chunk (and chunks of 7 rows, 40 = 5 * 7 + 5) give the same covariances.

    Kills kernels.py ``LocalKernel.fit`` #42 (``range(0, rows)``: only the first chunk is
    computed, the rest left as ``np.empty`` garbage).
    """
    particles, weights, distances = population()
    monkeypatch.setattr(kernels, "CHUNK_FLOATS", chunk_floats)
    got = covariances(LocalKernel().fit(particles, weights, distances, 0.5))
    np.testing.assert_allclose(got, local_by_hand(particles, weights, 10), rtol=1e-9)


def test_local_kernel_on_a_large_population_uses_exactly_the_nearest():
    """T10: 2,000 particles against ``argsort``: the ``k`` nearest, not some of the ``k + 2``.

    numpy's introselect leaves neighbours in order for small arrays, so only a large population
    shows an off-by-one in ``argpartition``. Kills kernels.py ``LocalKernel.fit`` #60, #61
    (``argpartition`` at ``k + 1`` or ``k - 2``).
    """
    particles, weights, distances = population(2000, seed=10)
    got = covariances(LocalKernel(k_fraction=0.1).fit(particles, weights, distances, 0.5))
    np.testing.assert_allclose(got, local_by_hand(particles, weights, 200), rtol=1e-9)


def test_kernel_reprs_show_their_settings():
    """T11: the repr a user reads. Kills kernels.py ``Kernel.__repr__`` #3 (the separator)."""
    assert repr(LocalKernel()) == "LocalKernel(k_fraction=0.25, scale=1.0)"
    assert repr(GaussianKernel("scott")) == "GaussianKernel(scale='scott')"
    assert repr(OLCMKernel()) == "OLCMKernel()"


# --- T2, T3, T4: PMCABC's defaults, settings and schedules -------------------------------------

PRIOR = Prior(mu=Uniform(-5.0, 5.0))


def shifted(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One statistic: the parameter plus unit Gaussian noise."""
    return theta + rng.normal(0.0, 1.0, size=theta.shape)


def test_pmc_documented_defaults():
    """T2: ``n_particles=1000`` and ``generations=5``, as documented.

    Kills pmc.py ``PMCABC.__init__`` #3 (1001) and #4 (6).
    """
    settings = PMCABC(PRIOR, shifted, engine="numpy").settings()
    assert settings["n_particles"] == 1000 and settings["generations"] == 5
    assert settings["epsilon_quantile"] == 0.5 and settings["epsilons"] is None


def test_pmc_settings_carry_their_names_and_the_stop_rules():
    """T3: ``epsilon_quantile``, ``epsilons`` and the stop rules reach settings and the algorithm.

    Checkpoints and saved posteriors read these names. Kills pmc.py ``PMCABC.settings`` #1-#4
    and ``PMCABC.__init__`` #18, #26, #27 (a stop rule not passed on to ``SequentialABC``).
    """
    pmc = PMCABC(
        PRIOR,
        shifted,
        engine="numpy",
        epsilon_quantile=0.3,
        epsilons=[math.inf, 2.0],
        min_epsilon_difference=0.25,
        max_walltime=60.0,
    )
    settings = pmc.settings()
    assert settings["epsilon_quantile"] == 0.3 and settings["epsilons"] == [math.inf, 2.0]
    assert settings["min_epsilon_difference"] == 0.25 and pmc.max_walltime == 60.0


def test_pmc_run_records_its_settings_in_the_metadata():
    """T3: a run's ``metadata["settings"]`` holds the schedule under its names."""
    pmc = PMCABC(
        PRIOR, shifted, engine="numpy", n_particles=50, epsilons=[math.inf, 3.0], progress=False
    )
    post = pmc.run([0.5], seed=3)
    assert post.metadata["settings"]["epsilons"] == [math.inf, 3.0]
    assert post.metadata["settings"]["epsilon_quantile"] == 0.5


def test_a_one_step_schedule_runs_one_generation():
    """T4: ``epsilons=[1.0]`` caps ``generations`` at 1 (not the default 5).

    Kills pmc.py ``_is_sized`` #11 (``len > 1``: generations stays 5 and the run indexes past
    the schedule).
    """
    pmc = PMCABC(PRIOR, shifted, engine="numpy", n_particles=50, epsilons=[1.0], progress=False)
    assert pmc.generations == 1
    post = pmc.run([0.5], seed=4)
    assert post.history["epsilon"].tolist() == [1.0] and (post.distances <= 1.0).all()


def test_a_schedule_may_repeat_an_epsilon():
    """T4: non-increasing allows equal steps: ``[inf, 2, 2]`` is accepted.

    Kills pmc.py ``_schedule`` #15 (``b >= a``: equal steps refused).
    """
    pmc = PMCABC(PRIOR, shifted, engine="numpy", epsilons=[math.inf, 2.0, 2.0])
    assert pmc.epsilons == [math.inf, 2.0, 2.0] and pmc.generations == 3


def test_epsilon_quantile_refused_with_the_exact_message():
    """Kills pmc.py ``PMCABC.__init__`` #55, #62, #69 (the example of its message, E1)."""
    message = "epsilon_quantile must be a number in (0, 1) (got 1.0); e.g. epsilon_quantile=0.5."
    with pytest.raises(ValueError, match=exact(message)):
        PMCABC(PRIOR, shifted, engine="numpy", epsilon_quantile=1.0)
