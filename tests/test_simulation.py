"""The batch kernel and the driver's dry run, without Spark."""

import signal
import time

import numpy as np
import pytest

from abcspark import Euclidean, Prior, SimulationError, Uniform
from abcspark.batch import BatchTask
from abcspark.dry_run import dry_run
from abcspark.rng import batch_rng
from abcspark.rows import TALLY
from abcspark.validation import check_observed

PRIOR = Prior(a=Uniform(0, 1), b=Uniform(0, 1))


def task(simulate, **options):
    settings = dict(
        seed=1,
        generation=0,
        batch_size=50,
        names=PRIOR.names,
        proposal=PRIOR,
        in_support=PRIOR.in_support,
        simulate=simulate,
        distance=Euclidean(),
        observed=np.array([0.5, 0.5]),
    )
    settings.update(options)
    return BatchTask(**settings)


def identity(theta, rng):
    return theta + 0.0 * rng.random(theta.shape)


def test_batch_keeps_within_epsilon_and_tallies():
    rows = task(identity, epsilon=0.3).run(4)
    tally = rows[rows["index"] == TALLY]
    kept = rows[rows["index"] != TALLY]
    assert tally["n_simulated"].tolist() == [50] and tally["n_failed"].tolist() == [0]
    assert (kept["distance"] <= 0.3).all() and (rows["batch"] == 4).all()
    theta = PRIOR.sample(50, batch_rng(1, 0, 4))
    expected = np.flatnonzero(np.hypot(theta[:, 0] - 0.5, theta[:, 1] - 0.5) <= 0.3)
    np.testing.assert_array_equal(kept["index"], expected)


def test_batches_do_not_depend_on_order():
    t = task(identity)
    np.testing.assert_array_equal(t.run(3).to_numpy(), (t.run(1), t.run(3))[1].to_numpy())


def nan_for_large_a(theta, rng):
    out = theta.copy()
    out[theta[:, 0] > 0.8] = np.nan
    return out


def test_nan_rows_raise_with_batch_and_parameters():
    with pytest.raises(
        SimulationError, match=r"NaN or inf in generation 0, batch 2, at parameters \(a=0\.8"
    ):
        task(nan_for_large_a).run(2)


def test_nan_rows_skipped_and_counted():
    rows = task(nan_for_large_a, on_error="skip").run(2)
    theta = PRIOR.sample(50, batch_rng(1, 0, 2))
    assert rows["n_failed"].sum() == (theta[:, 0] > 0.8).sum() > 0
    assert (rows.loc[rows["index"] != TALLY, "a"] <= 0.8).all()


def test_per_parameter_simulator_raise_and_skip():
    def one(theta, rng):
        if theta[0] > 0.9:
            raise ArithmeticError("diverged")
        return theta

    def dist(sim, obs):
        return float(np.sqrt(np.sum((sim - obs) ** 2)))

    with pytest.raises(SimulationError, match="raised ArithmeticError: diverged in generation 0"):
        task(one, distance=dist, vectorized=False).run(0)
    rows = task(one, distance=dist, vectorized=False, on_error="skip").run(0)
    assert rows["n_failed"].sum() == (PRIOR.sample(50, batch_rng(1, 0, 0))[:, 0] > 0.9).sum()


def test_wrong_shape_at_run_time_always_raises():
    with pytest.raises(SimulationError, match=r"shape \(n, k\) with n = 50 \(got \(49, 2\)\)"):
        task(lambda t, r: t[1:], on_error="skip").run(0)


class Hang:
    """A simulator that sleeps far past any timeout, recording calls that got to their end.

    The timeout must interrupt the sleep (SIGALRM raises inside it), so ``finished`` stays
    empty; a timeout checked only after the simulator returned would leave an entry there.
    """

    def __init__(self):
        self.started, self.finished = [], []

    def __call__(self, theta, rng):
        self.started.append(len(theta))
        time.sleep(5)
        self.finished.append(len(theta))
        return theta


def assert_the_alarm_is_put_back(before):
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # no alarm left armed
    assert signal.getsignal(signal.SIGALRM) is before


def test_timeout_turns_a_hang_into_an_error():
    hang, before = Hang(), signal.getsignal(signal.SIGALRM)
    with pytest.raises(
        SimulationError, match="batch 0 of generation 0 ran longer than batch_timeout=0.2 s"
    ):
        task(hang, batch_timeout=0.2).run(0)
    assert hang.started == [50] and hang.finished == []
    assert_the_alarm_is_put_back(before)


def test_timeout_also_bounds_the_dry_run_on_the_driver():
    from abcspark import RejectionABC

    hang, before = Hang(), signal.getsignal(signal.SIGALRM)
    abc = RejectionABC(PRIOR, hang, batch_timeout=0.2, engine="numpy")
    with pytest.raises(
        SimulationError, match=r"the dry run on the driver ran longer than batch_timeout=0.2 s"
    ):
        abc.run([0.5, 0.5], epsilon=0.1, n_samples=10, seed=1)
    assert hang.started == [4] and hang.finished == []  # the dry run's 4 draws, interrupted
    assert_the_alarm_is_put_back(before)


@pytest.mark.parametrize(
    "simulate, error, match",
    [
        (lambda t, r: t[:, :1], ValueError, r"shape \(n, k\) = \(4, 2\) .* \(got \(4, 1\)\)"),
        (lambda t, r: t[:, 0], ValueError, r"\(got \(4,\)\)"),
        (lambda t, r: [["x", "y"]] * len(t), TypeError, "simulate must return numbers"),
        (lambda t, r: t * np.nan, SimulationError, "NaN or inf in the dry run"),
    ],
)
def test_dry_run_rejects_bad_simulators(simulate, error, match):
    theta = PRIOR.sample(4, batch_rng(0, 0, 0))
    with pytest.raises(error, match=match):
        dry_run(task(simulate), theta, batch_rng(0, 0, 1))


@pytest.mark.parametrize(
    "observed, error, match",
    [
        ([[1.0, 2.0]], ValueError, r"observed must have shape \(k,\) \(got \(1, 2\)\)"),
        ([1.0, np.nan], ValueError, "observed must be finite"),
        ("abc", TypeError, "observed must be numeric"),
        ([], ValueError, r"observed must have shape \(k,\) \(got \(0,\)\)"),
    ],
)
def test_observed_checks(observed, error, match):
    with pytest.raises(error, match=match):
        check_observed(observed, vectorized=True)


def test_a_simulator_that_changes_theta_in_place_does_not_change_the_particles():
    def exp_in_place(theta, rng):
        theta[:, 1] = np.exp(theta[:, 1]) + 10.0  # outside the prior if it were kept
        return theta + 0.0 * rng.random(theta.shape)

    frame = task(exp_in_place, epsilon=np.inf).run(0)
    particles = frame[frame["index"] != TALLY]
    assert particles["b"].between(0, 1).all()
    expected = PRIOR.sample(50, batch_rng(1, 0, 0))
    np.testing.assert_array_equal(particles[["a", "b"]].to_numpy(), expected)


def test_a_per_parameter_simulator_that_changes_theta_in_place_does_not_either():
    def one_in_place(theta, rng):
        theta[1] = 99.0
        return theta

    frame = task(
        one_in_place, vectorized=False, distance=lambda s, o: float(s[0]), epsilon=np.inf
    ).run(0)
    assert frame.loc[frame["index"] != TALLY, "b"].between(0, 1).all()


def test_a_nan_distance_raises_under_on_error_raise():
    def nan_distance(stats, observed):
        out = np.abs(stats[:, 0] - observed[0])
        out[stats[:, 0] > 0.9] = np.nan
        return out

    with pytest.raises(SimulationError, match="gave a NaN or inf distance in generation 0"):
        task(identity, distance=nan_distance).run(0)
    frame = task(identity, distance=nan_distance, on_error="skip", epsilon=np.inf).run(0)
    tally = frame[frame["index"] == TALLY].iloc[0]
    assert tally["n_failed"] == (PRIOR.sample(50, batch_rng(1, 0, 0))[:, 0] > 0.9).sum() > 0


def test_statistics_are_carried_only_when_asked_for():
    plain = task(identity, epsilon=0.3).columns(0)
    kept = task(identity, epsilon=0.3, keep_statistics=True).columns(0)
    assert not any(c.startswith("_stat_") for c in plain)
    particles = kept["index"] != TALLY
    theta = np.column_stack([kept["a"], kept["b"]])[particles]
    stats = np.column_stack([kept["_stat_0"], kept["_stat_1"]])[particles]
    np.testing.assert_array_equal(stats, theta)  # the identity simulator
