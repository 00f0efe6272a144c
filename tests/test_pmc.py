"""PMCABC: the conjugate answer, kernels, weights, stopping rules and errors."""

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from abcspark import APMCABC, PMCABC, SMCABC, MultivariateNormal, Normal, Prior, Uniform, kernels
from abcspark.budget import epsilon_for_rate, fit_budget
from abcspark.engines import LocalEngine
from abcspark.examples import NormalMean, height_problem
from abcspark.history import GenerationRecord, forecast_rate
from abcspark.problem import auto_batch_size
from abcspark.rng import batch_rng

MODEL = NormalMean(prior_mean=0.0, prior_sd=2.0, sd=1.0, n_obs=10)
OBSERVED = [0.8]


@pytest.mark.parametrize("kernel", ["gaussian", "olcm"])
def test_conjugate_posterior_after_a_few_generations(kernel):
    pmc = PMCABC(
        MODEL.prior,
        MODEL,
        n_particles=2000,
        generations=6,
        kernel=kernel,
        batch_size=2000,
        engine="numpy",
    )
    posterior = pmc.run(OBSERVED, seed=3)
    mean, var = MODEL.abc_moments(OBSERVED[0], posterior.epsilon)
    ess = posterior.ess
    assert posterior.epsilon < 0.1
    assert abs(posterior.mean()["mu"] - mean) < 4 * math.sqrt(var / ess)
    assert abs(posterior.cov().iloc[0, 0] - var) < 4 * var * math.sqrt(2 / (ess - 1))
    assert (posterior.distances <= posterior.epsilon).all()


def until_19_000() -> PMCABC:
    """1,000 particles until 19,000 simulations: generation 4 is at generation 3's epsilon
    (on the median schedule; the default with a budget is the faster 0.3 quantile)."""
    return PMCABC(
        MODEL.prior,
        MODEL,
        n_particles=1000,
        generations=None,
        max_simulations=19_000,
        epsilon_quantile=0.5,
        recycle=False,  # the join by ESS these figures were set on (recycling: test_recycling)
        engine="numpy",
    )


def test_a_budget_the_next_generation_cannot_use_is_spent_at_the_last_epsilon():
    """At 19,000 simulations the rest after generation 3 buys too few particles at a smaller
    epsilon (or a larger one), so it is spent at generation 3's epsilon: 248 more particles
    join its 1,000, the budget is used to the simulation, and the joined population is the
    conjugate ABC posterior at that epsilon within Monte Carlo error."""
    posterior = until_19_000().run(OBSERVED, seed=1)
    epsilons = posterior.history["epsilon"].to_numpy()
    assert epsilons[-1] == epsilons[-2] and len(posterior.samples) == 1248
    assert posterior.metadata["n_simulations"] == 19_000
    assert posterior.metadata["stop_reason"] == "max_simulations"
    mean, var = MODEL.abc_moments(OBSERVED[0], posterior.epsilon)
    ess = posterior.ess
    assert abs(posterior.mean()["mu"] - mean) < 4 * math.sqrt(var / ess)
    assert abs(posterior.cov().iloc[0, 0] - var) < 4 * var * math.sqrt(2 / (ess - 1))


def test_a_run_resumed_before_the_generation_that_joins_the_last_ends_the_same(tmp_path):
    def run():
        return until_19_000().run(OBSERVED, seed=1, checkpoint=str(tmp_path))

    whole = run()
    for name in ("generation-0004.parquet", "generation-0004.json"):
        (tmp_path / name).unlink()
    resumed = run()
    np.testing.assert_array_equal(resumed.samples.to_numpy(), whole.samples.to_numpy())
    np.testing.assert_array_equal(resumed.weights, whole.weights)


def test_pmc_needs_fewer_simulations_than_rejection_for_the_same_epsilon():
    from abcspark import RejectionABC

    pmc = PMCABC(
        MODEL.prior, MODEL, n_particles=1000, generations=6, batch_size=1000, engine="numpy"
    )
    posterior = pmc.run(OBSERVED, seed=4)
    rejection = RejectionABC(MODEL.prior, MODEL, batch_size=1000, engine="numpy").run(
        OBSERVED, epsilon=posterior.epsilon, n_samples=1000, seed=4
    )
    assert posterior.n_simulations < rejection.n_simulations


def dense_log_density(kernel, theta):
    n, d = kernel.particles.shape
    total = np.zeros(len(theta))
    for j in range(n):
        chol = kernel.chol[j] if kernel.chol.ndim == 3 else kernel.chol
        cov = chol @ chol.T
        diff = theta - kernel.particles[j]
        quad = np.einsum("ri,ij,rj->r", diff, np.linalg.inv(cov), diff)
        total += (
            kernel.weights[j]
            * np.exp(-0.5 * quad)
            / math.sqrt((2 * math.pi) ** d * np.linalg.det(cov))
        )
    return np.log(total)


@pytest.mark.parametrize("method", ["gaussian", "olcm"])
def test_chunked_kernel_density_equals_the_dense_sum(monkeypatch, method):
    rng = batch_rng(0, 0, 0)
    particles = rng.normal(size=(60, 2))
    weights = rng.random(60)
    weights /= weights.sum()
    kernel = kernels.as_kernel(method).fit(particles, weights, rng.random(60), 0.5)
    theta = rng.normal(size=(25, 2))
    monkeypatch.setattr(kernels, "CHUNK_FLOATS", 2 * 60 * 3)  # 3 rows per chunk
    np.testing.assert_allclose(
        kernel.log_density(theta), dense_log_density(kernel, theta), rtol=1e-10
    )


def test_olcm_covariance_formula():
    particles = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    weights = np.full(4, 0.25)
    distances = np.array([0.1, 0.2, 0.3, 5.0])
    kernel = kernels.OLCMKernel().fit(particles, weights, distances, 1.0)
    near = particles[:3]
    for j in range(4):
        expected = sum((x - particles[j])[:, None] * (x - particles[j])[None, :] for x in near) / 3
        np.testing.assert_allclose(kernel.chol[j] @ kernel.chol[j].T, expected, atol=1e-9)


def test_kernel_sample_follows_the_mixture():
    particles = np.array([[0.0], [10.0]])
    kernel = kernels.GaussianMixture(particles, np.array([0.25, 0.75]), np.array([[1.0]]))
    draws = kernel.sample(20000, batch_rng(0, 0, 0))[:, 0]
    share = (draws > 5).mean()
    assert abs(share - 0.75) < 4 * math.sqrt(0.75 * 0.25 / 20000)


def test_importance_weights_undo_the_proposal():
    # Proposal N(0, 1) for a Uniform(-3, 3) prior: weights ~ 1 / N(theta; 0, 1).
    kernel = kernels.GaussianMixture(np.zeros((1, 1)), np.ones(1), np.eye(1))
    theta = np.array([[0.0], [1.0], [2.0]])
    prior = Prior(x=Uniform(-3, 3))
    w = kernels.importance_weights(theta, prior.log_pdf(theta), kernel)
    np.testing.assert_allclose(w / w[0], np.exp(0.5 * theta[:, 0] ** 2))


def test_multivariate_parameters_and_support():
    prior = Prior(x=MultivariateNormal([0.0, 0.0], [[1.0, 0.5], [0.5, 1.0]]), s=Uniform(0.5, 2))

    def simulate(theta, rng):
        return theta[:, :2] + theta[:, 2:] * rng.standard_normal((len(theta), 2)) * 0.1

    posterior = PMCABC(
        prior, simulate, n_particles=300, generations=3, batch_size=300, engine="numpy"
    ).run([0.3, -0.2], seed=1)
    assert posterior.names == ["x_0", "x_1", "s"]
    assert ((posterior.samples["s"] >= 0.5) & (posterior.samples["s"] <= 2)).all()


def test_history_and_stop_on_min_epsilon():
    pmc = PMCABC(
        MODEL.prior,
        MODEL,
        n_particles=500,
        generations=20,
        min_epsilon=0.3,
        batch_size=500,
        engine="numpy",
    )
    posterior = pmc.run(OBSERVED, seed=2)
    history = posterior.history
    assert list(history.columns) == [
        "generation",
        "epsilon",
        "n_proposals",
        "n_simulations",
        "acceptance_rate",
        "ess",
        "n_failed",
        "n_discarded",
        "seconds",
        "n_after_last",
        "n_reused",
    ]
    assert posterior.metadata["stop_reason"] == "min_epsilon"
    assert history["epsilon"].iloc[-1] == 0.3 and (history["epsilon"].iloc[1:-1] > 0.3).all()
    assert np.isinf(history["epsilon"].iloc[0]) and history["acceptance_rate"].iloc[0] == 1.0


class RecordingEngine(LocalEngine):
    """The NumPy engine with another parallelism, recording the batch ranges of each round."""

    def __init__(self, parallelism):
        self.parallelism = parallelism
        self.rounds = []

    def run(self, shared, batches, best=None, description=""):
        self.rounds.append(batches)
        return super().run(shared, batches, best, description)


def test_rounds_are_sized_from_the_expected_rate_and_do_not_change_the_result():
    prior, model, observed = height_problem()
    runs = {}
    for parallelism in (1, 2, 7):
        engine = RecordingEngine(parallelism)
        pmc = PMCABC(
            prior,
            model,
            n_particles=1000,
            generations=6,
            batch_size=100,
            engine=engine,
            progress=False,
        )
        runs[parallelism] = (pmc.run(observed, seed=4), engine.rounds)
    posterior, rounds = runs[2]
    for other, other_rounds in runs.values():
        np.testing.assert_array_equal(other.samples.to_numpy(), posterior.samples.to_numpy())
        np.testing.assert_array_equal(other.weights, posterior.weights)
        # Rounds follow from the counts alone, so even the simulations past the cut agree.
        assert other_rounds == rounds
        assert other.metadata["n_simulations"] == posterior.metadata["n_simulations"]
    # A round starts at batch 0 once per generation. Generation 0 knows its rate (the prior)
    # and needs one round; later ones aim under their forecast, then top up at the measured
    # rate, so they take two rounds and run few simulations past their last particle.
    firsts = [i for i, r in enumerate(rounds) if r.start == 0]
    per_generation = np.diff(firsts + [len(rounds)])
    assert len(firsts) == 6 and per_generation[0] == 1 and per_generation.max() <= 3
    history = posterior.history
    assert history["n_discarded"].sum() < 0.05 * history["n_simulations"].sum()
    # Generation g's history counts proposals of whole batches up to the one it needed.
    assert (history["n_proposals"] % 100 == 0).all()
    assert (history["n_simulations"] <= history["n_proposals"]).all()
    assert history["n_simulations"].iloc[0] == history["n_proposals"].iloc[0]  # prior: all in


def test_the_simulations_after_the_last_particle_are_what_its_batch_ran_after_it(tmp_path):
    """The simulator records every parameter it is given: the last generation's last particle
    of its own (batch order; the recycled ones follow them) is found in its batch's call, and
    the rows of that call after it are the generation's ``n_after_last``; the total still
    equals every call."""
    calls = []

    def recorded(theta, rng):
        calls.append(theta.copy())
        return MODEL(theta, rng)

    pmc = PMCABC(MODEL.prior, recorded, n_particles=100, generations=3, engine="numpy")
    posterior = pmc.run(OBSERVED, seed=2, checkpoint=str(tmp_path))
    history, meta = posterior.history, posterior.metadata
    saved = pd.read_parquet(tmp_path / "generation-0002.parquet")
    last = saved.loc[saved["generation"] == 2, ["mu"]].to_numpy()[-1]
    ((call, row),) = [(i, r) for i, c in enumerate(calls) for r in np.flatnonzero(c == last)]
    assert history["n_after_last"].iloc[-1] == len(calls[call]) - 1 - row > 0
    assert meta["n_after_last"] == history["n_after_last"].sum()
    assert history["n_after_last"].iloc[0] == 0  # 100 prior draws in 10 whole batches
    assert sum(map(len, calls)) == meta["n_simulations"] + meta["n_driver_simulations"]


@pytest.mark.parametrize("budget", [1000, 3000, 6000, 20_000])
def test_max_simulations_counts_simulator_calls_and_ends_within_one_batch(budget):
    calls = []

    def counted(theta, rng):
        calls.append(len(theta))
        return MODEL(theta, rng)

    pmc = PMCABC(
        MODEL.prior,
        counted,
        n_particles=100,
        generations=50,
        max_simulations=budget,
        engine="numpy",
    )
    posterior = pmc.run(OBSERVED, seed=2)
    meta, history = posterior.metadata, posterior.history
    batch = meta["settings"]["batch_size"]
    assert meta["stop_reason"] == "max_simulations"
    assert sum(calls) == meta["n_simulations"] + meta["n_driver_simulations"]
    assert meta["n_simulations"] < budget + batch
    assert batch <= budget // 20
    # What is left unspent is less than the last generation cost: it could not buy another.
    assert budget - meta["n_simulations"] < history["n_simulations"].iloc[-1]
    assert meta["n_discarded"] <= 0.15 * budget  # batches past a cut; no generation dropped


@pytest.mark.parametrize("budget", [7000, 7500, 8000, 8500, 9000])
def test_a_budget_cut_never_drops_a_generation_here(budget, caplog):
    settings = dict(n_particles=500, generations=20, batch_size=500, engine="numpy")
    posterior = PMCABC(MODEL.prior, MODEL, max_simulations=budget, **settings).run(OBSERVED, seed=2)
    assert posterior.metadata["stop_reason"] == "max_simulations"
    assert posterior.metadata["n_simulations"] < budget + 500
    assert posterior.metadata["n_discarded"] <= 500 and "dropping" not in caplog.text
    assert len(posterior.samples) >= 125  # a quarter: the generation is kept
    n = len(posterior.history) - 1  # the generations before the last follow the same path
    settings["generations"] = n
    whole = PMCABC(MODEL.prior, MODEL, max_simulations=10**8, **settings).run(OBSERVED, seed=2)
    np.testing.assert_array_equal(whole.history["epsilon"][:n], posterior.history["epsilon"][:n])


UNIFORM_DISTANCES = (np.arange(1, 101) / 100.0, np.full(100, 0.01))


@pytest.mark.parametrize(
    ("rate", "relax", "expected"),
    [
        (0.1, True, (0.5, 100)),  # 2,500 simulations buy 250: room for two more generations
        (0.06, True, (0.5, 150)),  # they buy 150: the last generation, sized to spend it all
        (0.03, False, (0.5, 75)),  # 75: the last, with fewer particles (at least half)
        (0.015, True, (0.705, 52)),  # 37.5: the first 5% quantile whose share buys 50 or more
        (0.015, False, None),  # a schedule's epsilon stays: 37.5 < 50, no generation
        (0.009, True, None),  # 22.5, and even the largest distance (twice the share) buys 45
    ],
)
def test_fit_budget_sizes_the_next_generation(rate, relax, expected):
    distances, weights = UNIFORM_DISTANCES
    plan = fit_budget(distances, weights, 0.5, rate, 100, 2500, relax)
    if expected is None:
        assert plan is None
    else:
        assert plan[1] == expected[1] and plan[0] == pytest.approx(expected[0], abs=0.011)


def test_stop_on_min_acceptance_rate():
    pmc = PMCABC(
        MODEL.prior,
        MODEL,
        n_particles=300,
        generations=20,
        min_acceptance_rate=0.2,
        batch_size=300,
        engine="numpy",
    )
    posterior = pmc.run(OBSERVED, seed=2)
    assert posterior.metadata["stop_reason"] == "min_acceptance_rate"
    assert posterior.history["acceptance_rate"].iloc[-1] < 0.2
    assert (posterior.history["acceptance_rate"].iloc[:-1] >= 0.2).all()


def test_explicit_epsilon_schedule():
    pmc = PMCABC(
        MODEL.prior,
        MODEL,
        n_particles=200,
        epsilons=[2.0, 1.0, 0.5],
        generations=10,
        batch_size=200,
        engine="numpy",
    )
    posterior = pmc.run(OBSERVED, seed=2)
    assert posterior.history["epsilon"].tolist() == [2.0, 1.0, 0.5]
    assert (posterior.distances <= 0.5).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_particles=0), "n_particles must be a positive int"),
        (dict(generations=1.5), "generations must be a positive int"),
        (dict(epsilon_quantile=1.0), r"epsilon_quantile must be a number in \(0, 1\)"),
        (dict(kernel="student"), "kernel must be one of"),
        (dict(epsilons=[]), "epsilons must be a non-empty, non-increasing list"),
        (dict(epsilons=[5.0, 8.0]), "epsilons must be a non-empty, non-increasing list"),
        (dict(epsilons=[1.0, -1.0]), "non-increasing list of non-negative numbers"),
        (dict(prior_draws=0.5), r"prior_draws must be a number >= 1 \(got 0.5\)"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PMCABC(MODEL.prior, MODEL, engine="numpy", **kwargs)


def test_checkpoint_needs_a_seed(tmp_path):
    with pytest.raises(ValueError, match="seed must be given with checkpoint"):
        PMCABC(MODEL.prior, MODEL, engine="numpy").run(OBSERVED, checkpoint=str(tmp_path))


class ShrunkKernel(kernels.Kernel):
    """A user's kernel: the Gaussian kernel at half its usual covariance."""

    def fit(self, particles, weights, distances, epsilon):
        return kernels.GaussianKernel(scale=1.0).fit(particles, weights, distances, epsilon)


def test_kernels_are_objects_and_names_are_shortcuts():
    assert isinstance(kernels.as_kernel("gaussian"), kernels.GaussianKernel)
    assert isinstance(kernels.as_kernel("olcm"), kernels.OLCMKernel)
    assert isinstance(kernels.as_kernel("local"), kernels.LocalKernel)
    assert kernels.as_kernel("silverman").scale == "silverman"
    assert repr(kernels.GaussianKernel()) == "GaussianKernel(scale=2.0)"
    assert kernels.GaussianKernel(3).to_dict() == {"type": "GaussianKernel", "scale": 3.0}
    for bad, error, match in [
        ("gauss", ValueError, r"kernel must be one of \('gaussian', 'silverman', 'scott', "),
        (kernels.GaussianKernel, TypeError, "kernel must be a name in"),
    ]:
        with pytest.raises(error, match=match):
            PMCABC(MODEL.prior, MODEL, kernel=bad, engine="numpy")
    with pytest.raises(ValueError, match=r"scale must be a finite number > 0 \(got 0\)"):
        kernels.GaussianKernel(scale=0)


def test_a_users_kernel_runs_and_is_recorded():
    settings = dict(n_particles=200, generations=3, batch_size=200, engine="numpy")
    mine = PMCABC(MODEL.prior, MODEL, kernel=ShrunkKernel(), **settings).run([0.5], seed=2)
    same = PMCABC(MODEL.prior, MODEL, kernel=kernels.GaussianKernel(1.0), **settings).run(
        [0.5], seed=2
    )
    np.testing.assert_array_equal(mine.samples.to_numpy(), same.samples.to_numpy())
    assert mine.metadata["settings"]["kernel"] == {"type": "ShrunkKernel"}


def test_numpy_scalars_are_accepted_where_numbers_are():
    pmc = PMCABC(
        MODEL.prior,
        MODEL,
        n_particles=np.int64(100),
        generations=np.int32(2),
        epsilon_quantile=np.float32(0.5),
        batch_size=np.int64(100),
        engine="numpy",
    )
    assert pmc.n_particles == 100 and type(pmc.n_particles) is int
    assert len(pmc.run([0.5], seed=1).samples) == 100


def test_keep_statistics_gives_the_accepted_particles_statistics():
    posterior = PMCABC(
        MODEL.prior, MODEL, n_particles=100, generations=2, engine="numpy", keep_statistics=True
    ).run([0.5], seed=1)
    stats = posterior.statistics
    assert stats.shape == (100, 1)
    distance = np.abs(stats[:, 0] - 0.5)
    np.testing.assert_allclose(distance, posterior.distances, rtol=1e-12)


def test_stop_on_min_epsilon_difference_and_max_walltime():
    settings = dict(n_particles=200, generations=30, engine="numpy", progress=False)
    posterior = PMCABC(MODEL.prior, MODEL, min_epsilon_difference=0.05, **settings).run(
        OBSERVED, seed=1
    )
    epsilons = posterior.history["epsilon"].to_numpy()
    assert posterior.metadata["stop_reason"] == "min_epsilon_difference"
    assert epsilons[-2] - epsilons[-1] < 0.05 and (np.diff(epsilons[1:-1]) <= -0.05).all()
    # A walltime already spent after generation 0: no second generation starts.
    quick = PMCABC(MODEL.prior, MODEL, max_walltime=1e-9, **settings).run(OBSERVED, seed=1)
    assert quick.metadata["stop_reason"] == "max_walltime" and len(quick.history) == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(min_epsilon_difference=-1.0), r"min_epsilon_difference must be a number >= 0"),
        (dict(max_walltime=0), r"max_walltime must be a number > 0 \(got 0\)"),
        (dict(max_walltime="an hour"), r"max_walltime must be a number > 0"),
    ],
)
def test_stop_rules_reject_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PMCABC(MODEL.prior, MODEL, engine="numpy", **kwargs)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (0.1, (0.505, 0.1)),  # the rate at epsilon (share 0.5) already reaches it: the median
        (0.15, (0.755, 0.15)),  # 1.5x the rate needs 1.5x the share: the 75% quantile
        (0.3, (1.0, 0.2)),  # out of reach (twice the share at most): the largest distance
    ],
)
def test_epsilon_for_rate_picks_the_smallest_quantile_reaching_the_target(target, expected):
    distances, weights = UNIFORM_DISTANCES
    epsilon, rate = epsilon_for_rate(distances, weights, 0.5, 0.1, target)
    assert epsilon == pytest.approx(expected[0], abs=1e-9)
    assert rate == pytest.approx(expected[1], rel=1e-9)


def test_a_target_acceptance_rate_drives_the_epsilons():
    def rates(target):
        pmc = PMCABC(
            MODEL.prior,
            MODEL,
            n_particles=300,
            generations=5,
            engine="numpy",
            target_acceptance_rate=target,
            progress=False,
        )
        return pmc.run(OBSERVED, seed=3).history["acceptance_rate"].to_numpy()[1:]

    low, high = rates(0.05), rates(0.4)
    assert (high > low).all()  # a higher target keeps every later generation's rate higher
    assert 0.2 < high.mean() < 0.8 and low.mean() < 0.15  # near their targets, forecast-driven
    with pytest.raises(ValueError, match="cannot go with an epsilons schedule"):
        PMCABC(MODEL.prior, MODEL, epsilons=[np.inf, 1.0], target_acceptance_rate=0.2)
    with pytest.raises(ValueError, match=r"target_acceptance_rate must be a number in \(0, 1\]"):
        PMCABC(MODEL.prior, MODEL, target_acceptance_rate=0.0)


def test_a_cut_generation_after_the_prior_is_kept_however_few_its_particles():
    # In 10 dimensions the wide kernel accepts far less than its forecast: generation 1 is cut
    # by the budget with a handful of particles. Dropped, the result would be the prior itself;
    # kept, they join the prior draws within its epsilon (its 30% quantile: 30 of 100).
    prior = Prior(**{f"p{i}": Normal(0, 1) for i in range(10)})

    def simulate(theta, rng):
        return theta + rng.normal(0, 0.3, theta.shape)

    pmc = PMCABC(
        prior,
        simulate,
        n_particles=100,
        generations=3,
        max_simulations=1000,
        prior_draws=1,  # generation 0 at epsilon inf: the prior itself
        kernel="gaussian",
        epsilon_quantile=0.3,
        engine="numpy",
        progress=False,
    )
    posterior = pmc.run(np.zeros(10), seed=3)
    assert len(posterior.history) == 2 and np.isfinite(posterior.epsilon)
    last = posterior.history.iloc[1]
    new = round(last["acceptance_rate"] * last["n_simulations"])
    assert 2 <= new < 25  # fewer than a quarter, kept
    assert len(posterior.samples) == 30 + new and (posterior.distances <= posterior.epsilon).all()


def test_a_last_generation_the_budget_sizes_to_one_particle_is_kept_and_joins_the_last():
    """max_simulations=3 with 2 particles leaves 1 simulation for generation 1: the plan sizes
    it to 1 particle; that generation is complete and kept (its weights were once left None,
    found by the property test on 2026-12-01), and both of generation 0's particles, within
    its epsilon, join it: ESS 2 and 1, so each of the 3 weighs a third."""

    def near(theta, rng):
        return theta + 0.1 * rng.standard_normal(theta.shape)

    posterior = PMCABC(
        Prior(p=Uniform(0.0, 1.0)),
        near,
        n_particles=2,
        generations=2,
        max_simulations=3,
        prior_draws=1,
        recycle=False,
        engine="numpy",
        progress=False,
    ).run([0.0], seed=0)
    assert list(posterior.history["n_simulations"]) == [2, 1]
    assert len(posterior.samples) == 3
    np.testing.assert_allclose(posterior.weights, np.full(3, 1 / 3))
    assert posterior.ess == pytest.approx(3.0)


def test_prior_draws_keep_the_closest_prior_draws_as_generation_0():
    options = dict(batch_size=50, engine="numpy", progress=False)
    closest = PMCABC(MODEL.prior, MODEL, n_particles=100, prior_draws=2, generations=1, **options)
    every = PMCABC(MODEL.prior, MODEL, n_particles=200, generations=1, **options)
    kept, drawn = closest.run(OBSERVED, seed=5), every.run(OBSERVED, seed=5)
    nearest = drawn.samples["mu"].to_numpy()[np.sort(np.argsort(drawn.distances)[:100])]
    np.testing.assert_array_equal(kept.samples["mu"].to_numpy(), nearest)
    record = kept.history.iloc[0]
    assert record["epsilon"] == np.sort(drawn.distances)[99] == kept.distances.max()
    assert (record["n_simulations"], record["acceptance_rate"], record["ess"]) == (200, 0.5, 100)
    assert kept.n_simulations == 200 and np.allclose(kept.weights, 0.01)


def test_prior_draws_quantile_and_generations_follow_the_budget_by_default():
    budgeted = PMCABC(MODEL.prior, MODEL, n_particles=100, max_simulations=10**4, engine="numpy")
    plain = PMCABC(MODEL.prior, MODEL, n_particles=100, engine="numpy")
    assert (budgeted.prior_draws, plain.prior_draws) == (4.0, 1.0)
    assert (budgeted.epsilon_quantile, plain.epsilon_quantile) == (0.3, 0.5)
    assert budgeted.settings()["epsilon_quantile"] == 0.3
    chosen = PMCABC(MODEL.prior, MODEL, max_simulations=10**4, epsilon_quantile=0.5)
    assert chosen.epsilon_quantile == 0.5
    assert (budgeted.until_budget, plain.until_budget, plain.generations) == (True, False, 5)
    assert plain.max_simulations == 10**8 and "prior_draws" not in plain.settings()
    explicit = PMCABC(MODEL.prior, MODEL, max_simulations=10**4, generations=3, prior_draws=1)
    assert (explicit.generations, explicit.prior_draws, explicit.until_budget) == (3, 1.0, False)
    with pytest.raises(ValueError, match="prior_draws must be"):
        PMCABC(MODEL.prior, MODEL, max_simulations=10**4, prior_draws=0.5)


BUDGET = 20_000


def spent_budget(seed: int, **options) -> tuple:
    """A run of 100 particles with a budget of 20,000 alone: ``(posterior, simulator calls)``."""
    calls = []

    def counted(theta, rng):
        calls.append(len(theta))
        return MODEL(theta, rng)

    pmc = PMCABC(
        MODEL.prior, counted, n_particles=100, max_simulations=BUDGET, engine="numpy", **options
    )
    return pmc.run(OBSERVED, seed=seed), sum(calls)


def assert_spent_to_within_one_batch(posterior, calls: int) -> None:
    history, meta = posterior.history, posterior.metadata
    batch = meta["settings"]["batch_size"]
    # Generation 0 keeps the closest 100 of 400 prior draws, at the epsilon they reach.
    assert history["n_simulations"].iloc[0] == 400
    assert history["epsilon"].iloc[0] < np.inf and history["ess"].iloc[0] == 100
    assert meta["stop_reason"] == "max_simulations"
    assert history["epsilon"].is_monotonic_decreasing
    assert BUDGET - batch < meta["n_simulations"] < BUDGET + batch
    assert calls == meta["n_simulations"] + meta["n_driver_simulations"]
    assert history["n_discarded"].iloc[-1] == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_budget_alone_is_spent_to_within_one_batch_and_the_last_generation_wastes_none(seed):
    """On the median schedule without recycling, whose forecasts these bounds were set on."""
    posterior, calls = spent_budget(seed, epsilon_quantile=0.5, recycle=False)
    assert_spent_to_within_one_batch(posterior, calls)
    assert len(posterior.history) > 5  # past the default of a run without a budget
    # 1.0-1.6% here; 0.9-7.4% with the full trend
    assert posterior.metadata["n_discarded"] < 0.03 * BUDGET


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_budgets_default_quantile_spends_it_to_within_one_batch(seed):
    """The default with a budget (the 0.3 quantile) falls faster, so its forecasts miss more:
    2.4-4.3% of the budget ran past a cut here, under the 5% issue 14 allows. Without
    recycling, as these bounds were set; with it, ``test_recycling``."""
    posterior, calls = spent_budget(seed, recycle=False)
    assert posterior.metadata["settings"]["epsilon_quantile"] == 0.3
    assert_spent_to_within_one_batch(posterior, calls)
    assert len(posterior.history) >= 5
    assert posterior.metadata["n_discarded"] < 0.05 * BUDGET


def test_generation_1_is_forecast_from_the_share_within_epsilon_not_the_prior_rate():
    """Generation 0 kept the closest 100 of 400 draws (rate 0.25); its kernel proposes around
    them, so generation 1's first round expects the share of them within the new epsilon."""
    record = GenerationRecord(
        generation=0, epsilon=1.0, n_proposals=400, n_simulations=400, acceptance_rate=0.25,
        ess=100.0, n_failed=0, n_discarded=0, seconds=0.0,
    )  # fmt: skip
    population = pd.DataFrame({"distance": np.arange(1, 101) / 100, "weight": np.full(100, 0.01)})
    assert forecast_rate([record], population, 0.5) == pytest.approx(0.5)
    failing = replace(record, n_simulations=400, n_failed=100)  # a quarter failed
    assert forecast_rate([failing], population, 0.5) == pytest.approx(0.375)


@pytest.mark.parametrize(
    ("n_target", "cap", "budget", "size"),
    [
        (1000, 10**8, None, 100),  # a cap is no budget to spend: a tenth of the particles
        (1000, 10**7, 10**7, 100),  # 1e5 batches of a tenth: unchanged
        (1000, 10**8, 10**8, 1000),
        (1000, 10**9, 10**9, 10_000),  # 1e9 in 1e5 batches, not in 1e7
        (100, 2 * 10**7, 2 * 10**7, 200),
        (1000, 10**15, 10**15, 10**8),  # never past the largest batch
        (1000, 400, 400, 20),  # a twentieth of a small budget
    ],
)
def test_a_large_budget_is_run_in_at_most_1e5_batches(n_target, cap, budget, size):
    assert auto_batch_size(n_target, cap, budget) == size


def test_only_a_given_budget_sizes_the_batches():
    """PMC, SMC and APMC without a budget run under a cap of 1e8 in batches of a tenth of
    their particles; given 1e9 simulations, in batches of 10,000 (APMC: its 500 new particles
    of a generation in one batch)."""
    options = dict(engine="numpy", progress=False)
    for algorithm, plain in ((PMCABC, 100), (SMCABC, 100), (APMCABC, 50)):
        assert algorithm(MODEL.prior, MODEL, **options).problem.batch_size == plain
        assert algorithm(MODEL.prior, MODEL, **options).max_simulations == 10**8
    large = dict(max_simulations=10**9, **options)
    assert PMCABC(MODEL.prior, MODEL, **large).problem.batch_size == 10_000
    assert SMCABC(MODEL.prior, MODEL, **large).problem.batch_size == 10_000
    assert APMCABC(MODEL.prior, MODEL, **large).problem.batch_size == 500


def test_a_budget_in_few_batches_is_spent_to_within_one(monkeypatch):
    """With at most 100 batches of the budget (1e5 in use), 20,000 simulations are run in
    batches of 200, spent to within one, every call counted."""
    monkeypatch.setattr("abcspark.problem.MAX_BATCHES", 100)
    posterior, calls = spent_budget(1, recycle=False)
    assert posterior.metadata["settings"]["batch_size"] == 200
    assert_spent_to_within_one_batch(posterior, calls)
