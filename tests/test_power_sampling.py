"""Tests with power for the driver's sampling (sampling.py) and the budget rules (budget.py).

Each test kills mutants that survived ``benchmarks/mutation.sh`` stages 4 and 6, named in its
docstring as ``function #n`` (mutmut's numbering: sampling.py at 0406ccd, budget.py at f57c10e;
see benchmarks/MUTATION.md). The sampling
tests drive :func:`sample_until` and :func:`sample_best` with a scripted in-process engine whose
batches are given (simulations, failures, distances), so every count is worked out by hand.
"""

import math

import numpy as np
import pandas as pd
import pytest

from abcspark.batch import SimulationError
from abcspark.budget import (
    budget_message,
    epsilon_for_rate,
    fit_budget,
    merged,
    next_plan,
    within,
)
from abcspark.history import GenerationRecord
from abcspark.rows import concat, keep_best, particle_columns
from abcspark.sample_checks import check_failures, check_support
from abcspark.sampling import (
    Sample,
    _hopeless,
    _round_size,
    sample_best,
    sample_until,
)

FOUR = (np.array([1.0, 2.0, 3.0, 4.0]), np.full(4, 0.25))
"""Distances and weights whose 5% quantiles are exact: 1.0 up to q = 0.125, 4.0 from 0.875."""


class Scripted:
    """An in-process engine: batch ``b`` simulates ``script(b) = (n, failed, distances)``.

    Each kept particle's parameter ``mu`` is its batch number, so a test sees where it came
    from; ``calls`` records the batch ranges asked for (the round sizes) and descriptions.
    """

    name = "scripted"
    parallelism = 1

    def __init__(self, script):
        self.script = script
        self.calls = []

    def share(self, task):
        return task

    def release(self, shared):
        pass

    def run(self, shared, batches, best=None, description=""):
        """Rows of ``batches``; with ``best``, each batch keeps its own top ``best`` (as each
        Spark partition does), so the driver still has to merge them."""
        self.calls.append((batches, best, description))
        pieces = []
        for b in reversed(batches):  # as Spark tasks may finish: the driver must sort them
            n, failed, distances = self.script(b)
            d = np.asarray(distances, dtype=float)
            theta = np.full((len(d), 1), float(b))
            rows = concat([particle_columns(["mu"], b, np.arange(len(d)), theta, d, n, failed)])
            pieces.append(rows if best is None else keep_best(rows, best))
        return pd.concat(pieces, ignore_index=True)


def sample(n_particles, n_simulations, n_failed=0, stop="budget"):
    particles = pd.DataFrame({"batch": np.zeros(n_particles, dtype=np.int64)})
    return Sample(particles, n_simulations, n_simulations, n_failed, 0.0, 0, stop)


# budget.fit_budget ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "relax", "expected"),
    [
        (0.25, False, (1.0, 100)),  # #3, #5: 800 simulations buy 200 = 2n exactly: a full one
        (0.0625, False, (1.0, 50)),  # #6: they buy 50 = n/2 exactly: the last, of 50
        (1 / 64, True, (4.0, 50)),  # #33, #36: 12.5 at 1.0; 4 times the share at 4.0 buys 50
    ],
)
def test_fit_budget_at_its_boundaries(rate, relax, expected):
    """Kills fit_budget #3 (``> 2n``), #6 (``> n/2``), #22 (``more > n/2``): each case sits
    exactly on the boundary the mutant moves."""
    assert fit_budget(*FOUR, 1.0, rate, 100, 800, relax) == expected


def test_fit_budget_does_not_buy_the_particles_recycling_keeps():
    """150 bought: twice the 75 a generation draws beside 25 kept, so a generation like any
    other; beside 24 kept, or none, the last one, of 150. Kills ``2 * (n - kept)`` moved."""
    assert fit_budget(*FOUR, 1.0, 0.1875, 100, 800, False, kept=25) == (1.0, 100)
    assert fit_budget(*FOUR, 1.0, 0.1875, 100, 800, False, kept=24) == (1.0, 150)
    assert fit_budget(*FOUR, 1.0, 0.1875, 100, 800, False) == (1.0, 150)


@pytest.mark.parametrize(
    ("drawn_by", "recycle", "expected"),
    [
        (1, True, (0.5, 100)),  # 50 of generation 1's own within 0.5: 50 to draw, 150 bought
        (1, False, (0.5, 150)),  # no recycling: 150 bought < 200, the last generation
        (0, True, (0.5, 150)),  # particles generation 1 recycled are never recycled again
    ],
)
def test_next_plan_counts_the_last_generations_own_particles_within_epsilon(
    drawn_by, recycle, expected
):
    """After generation 1 (acceptance rate 0.1875), 800 simulations buy 150 particles at
    epsilon 0.5, where 50 of the 100 last particles are."""
    population = pd.DataFrame(
        {
            "distance": np.arange(1, 101) / 100.0,
            "weight": np.full(100, 0.01),
            "generation": np.full(100, drawn_by),
        }
    )
    records = [
        GenerationRecord(g, 1.0 / (g + 1), 1000, 1000, rate, 100.0, 0, 0, 1.0)
        for g, rate in ((0, 0.1), (1, 0.1875))
    ]
    plan = next_plan(
        population,
        records,
        0.5,
        100,
        800,
        target_acceptance_rate=None,
        min_epsilon=0.0,
        scheduled=True,
        adaptive=False,
        recycle=recycle,
    )
    assert plan == expected


def test_fit_budget_takes_the_first_5_percent_quantile_that_buys_half():
    """20 bought at 1.0 (share 1/4); the share must reach 5/8, so
    3/4, first passed at the 65% quantile, 1 + (0.65 - 0.125) x 4 = 3.1, buying 20 x 3 = 60.
    With weights 1/2, 1/4, 1/8, 1/8 (share 1/2) 30 bought need 7/8, first passed at the 85%
    quantile 3 + (0.85 - 0.8125) x 8 = 3.3, buying 52.5. 40 bought (< 50) without relax buy
    nothing. Kills rates_at #11 (quantiles unweighted; the grid's mutants die here too)."""
    assert fit_budget(*FOUR, 1.0, 0.025, 100, 800, True) == (pytest.approx(3.1), 60)
    weights = np.array([0.5, 0.25, 0.125, 0.125])
    assert fit_budget(FOUR[0], weights, 1.0, 0.0375, 100, 800, True) == (pytest.approx(3.3), 52)
    assert fit_budget(*FOUR, 1.0, 0.05, 100, 800, False) is None


def test_fit_budget_without_a_particle_within_epsilon_offers_nothing():
    """Kills rates_at #3 (``share < 0``: it divides by a share of 0), #5, #7 (a 0-d array)."""
    assert fit_budget(*FOUR, 0.5, 1 / 64, 100, 800, True) is None


def test_epsilon_for_rate_without_a_particle_within_epsilon_keeps_both():
    """No candidate to scale the rate by: epsilon and rate come back unchanged. Kills rates_at
    #6 (one uninitialised candidate instead of none)."""
    assert epsilon_for_rate(*FOUR, 0.5, 0.01, 0.1) == (0.5, 0.01)


@pytest.mark.parametrize(
    ("last_rate", "relax", "expected"),
    [
        (0.01, False, (2.0, 8)),  # 8 particles at the last epsilon: a generation that joins it
        (0.0025, False, (2.0, 2)),  # exactly 2: still worth it
        (0.002, False, None),  # 1.6: the rest is not worth a generation
        (0.01, True, (pytest.approx(3.1), 60)),  # a larger epsilon that buys half comes first
    ],
)
def test_fit_budget_spends_the_rest_at_the_last_epsilon_when_nothing_else_can(
    last_rate, relax, expected
):
    """20 bought at 1.0 (< 50, half of 100): without relax, or if no larger epsilon buys 50,
    the last generation's (epsilon 2.0, its acceptance rate) sizes one at 2.0 that spends
    the 800 left, from 2 particles."""
    assert fit_budget(*FOUR, 1.0, 0.025, 100, 800, relax, last=(2.0, last_rate)) == expected


def test_merged_populations_share_the_weight_by_their_ess():
    """4 equal weights (ESS 4) and 2 of 0.9 and 0.1 (ESS 1/0.82): the first get 4/(4 + 1.22)
    of the weight, spread as before; an empty second population changes nothing."""
    last = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "weight": np.full(4, 0.25)})
    new = pd.DataFrame({"a": [5.0, 6.0], "weight": [0.9, 0.1]})
    both = merged(last, new)
    share = 4 / (4 + 1 / 0.82)
    np.testing.assert_allclose(both["a"], [1, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(
        both["weight"], [*np.full(4, share / 4), 0.9 * (1 - share), 0.1 * (1 - share)]
    )
    assert both["weight"].sum() == pytest.approx(1.0) and list(both.index) == list(range(6))
    assert merged(last, new.iloc[:0]) is last


def test_within_keeps_the_particles_inside_epsilon_and_renormalises_their_weights():
    """Two of four particles within 2.5, weights 0.1 and 0.3 of 1: they become 0.25 and 0.75;
    none inside (or only weights that underflowed to 0) is an empty population, not NaN."""
    population = pd.DataFrame(
        {
            "a": [1.0, 2.0, 3.0, 4.0],
            "distance": [2.0, 3.0, 1.0, 4.0],
            "weight": [0.1, 0.2, 0.3, 0.4],
        }
    )
    inside = within(population, 2.5)
    np.testing.assert_allclose(inside["a"], [1.0, 3.0])
    np.testing.assert_allclose(inside["weight"], [0.25, 0.75])
    assert within(population, 0.5).empty
    assert within(population.assign(weight=[0.0, 0.5, 0.0, 0.5]), 2.5).empty


# budget.budget_message -----------------------------------------------------------------------


def test_budget_message_when_the_budget_is_reached():
    """Kills budget_message #10 (the failures left out); pins every figure of the message."""
    message = budget_message(sample(3, 1200, n_failed=7), 10, 1200)
    assert message == (
        "max_simulations=1,200 was reached with 3 of 10 particles accepted in 1,200 "
        "simulations (7 simulations failed and were skipped): acceptance rate 0.0025, so the "
        "request needs about 4e+03 simulations; raise epsilon or max_simulations."
    )


def test_budget_message_when_the_budget_cannot_be_enough():
    """No failures, stopped as hopeless: the other wording and the "none accepted" need."""
    message = budget_message(sample(0, 3000, stop="hopeless"), 50, 10_000)
    assert message == (
        "max_simulations=10,000 cannot be enough with 0 of 50 particles accepted in 3,000 "
        "simulations: acceptance rate 0, so the request needs more than 5e+04 simulations "
        "(none accepted); raise epsilon or max_simulations."
    )


def test_budget_message_rate_over_a_single_simulation():
    """Kills budget_message #8 (``max(n_simulations, 2)``): one simulation, one particle."""
    assert "acceptance rate 1, so the request needs about 4 simulations" in budget_message(
        sample(1, 1), 4, 100
    )


# sampling.sample_best -------------------------------------------------------------------------

BEST = {0: (10, 0, [0.5, 0.1, 0.3]), 1: (10, 0, [0.2, 0.1]), 2: (10, 2, [0.4])}
"""Three batches of 10 proposals: their simulations, failures and kept distances."""


def test_sample_best_merges_each_partitions_top_k():
    """Kills sample_best #5 (top k not pushed to the engine), #6, #10 (its description lost),
    #14, #16 (no merge of the partitions' top k), #30, #41 (the old index left as a column)."""
    engine = Scripted(BEST.get)
    got = sample_best(engine, None, 3, 3, 10, "rejection")
    assert engine.calls == [(range(3), 3, "rejection")]
    expected = pd.DataFrame(
        {"batch": [0, 1, 1], "index": [1, 0, 1], "distance": [0.1, 0.2, 0.1], "mu": [0.0, 1, 1]}
    )
    pd.testing.assert_frame_equal(got.particles, expected)
    assert (got.n_proposals, got.n_simulations, got.n_failed) == (30, 30, 2)
    assert (got.acceptance_rate, got.n_discarded, got.stop) == (0.1, 0, "complete")


def test_sample_best_without_k_keeps_every_particle_in_batch_order():
    """Kills sample_best #1 (its default description): the engine is asked with ``""``."""
    engine = Scripted(BEST.get)
    got = sample_best(engine, None, 3, None, 10)
    assert engine.calls == [(range(3), None, "")]
    assert got.particles["distance"].tolist() == [0.5, 0.1, 0.3, 0.2, 0.1, 0.4]
    assert got.particles.index.tolist() == list(range(6))


def test_sample_best_rate_over_a_single_simulation():
    """Kills sample_best #65 (``max(n_simulations, 2)``): one simulation, one particle."""
    got = sample_best(Scripted(lambda b: (1, 0, [0.0])), None, 1, None, 1)
    assert got.acceptance_rate == 1.0


# sample_checks.check_support ------------------------------------------------------------------


def test_support_check_starts_at_100_000_proposals():
    """Kills check_support #2 (``> 100_000``), #3 (``>= 100001``): 9 of 100,000 stops."""
    check_support(10, 100_000)  # a share of 1e-4 exactly is enough
    check_support(0, 99_999)
    with pytest.raises(ValueError, match=r"inside the prior's support \(got 9 of 100,000\)"):
        check_support(9, 100_000)


# sampling._round_size ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((100, 0.1, math.inf, 1.0, 10, 0, 0.5), 50),  # first: 100 / 0.1 / 10 = 100, times 0.5
        ((200, 0.1, math.inf, 1.0, 10, 1000, 0.5), 200),  # later: the 200 batches needed
        ((201, 0.1, math.inf, 1.0, 20, 2000, 0.5), 101),  # ... rounded up from 100.5
        ((100, 0.1, math.inf, 1.0, 10, 100, 0.5), 40),  # ... at most 4 x the 100 proposed
        ((100, 0.1, 250, 0.5, 10, 0, 1.0), 50),  # 250 left, half of 10 proposals simulated
        ((0, 0.1, math.inf, 1.0, 10, 30, 1.0), 1),  # nothing wanted: still one batch
        ((100, 0.1, 0, 1.0, 10, 30, 1.0), 1),  # nothing left: still one batch
    ],
)
def test_round_size_by_hand(args, expected):
    """Kills _round_size #2, #3, #8 (the batches wanted), #15-#18, #21 (the need, 4 times the
    batches done, the first round's share), #27, #34 (at least 1), #40, #41, #46 (the cap)."""
    assert _round_size(*args) == expected


# sampling._hopeless -----------------------------------------------------------------------------

SIMS = np.array([1000, 2000, 4000, 8000, 16000])
"""Cumulative simulations; a budget of 16,000 checks positions 3, 2, 1, 0 (its 1/2 ... 1/16)."""


@pytest.mark.parametrize(
    ("n_accept", "expected"),
    [
        (90, [False, False, True, True, False]),
        (100, [False, True, True, True, False]),
        (105, [False, True, True, True, False]),
    ],
)
def test_hopeless_bound_by_hand(n_accept, expected):
    """The bound (a + 3 + 3 sqrt(a)) / s at a = 1, 4, 9, 16 particles: 7/1000, 13/2000,
    21/4000, 31/8000; position p is hopeless when s + (n - a) / bound > 16,000, i.e. for
    n > 106, 95, 72, 47. Kills _hopeless #10, #12, #20-#22 (the check points), #29-#34,
    #38 (the bound), #36, #37, #40, #41."""
    hit = _hopeless(SIMS, np.array([1, 4, 9, 16, 25]), n_accept, 16_000)
    assert hit.tolist() == expected


@pytest.mark.parametrize(
    ("sims", "n_accept", "budget", "expected"),
    [
        ([1024, 2048], 3, 4096, [False, False]),  # 2,048 + 3 / (3/2,048) = 4,096: not over
        ([500, 1000], 10, 2000, [False, True]),  # 500 simulations is too early to judge
        ([1000, 2000], 10**7, 2**21 * 1000, [False, True]),  # budget / 2**21 is no check point
    ],
)
def test_hopeless_check_points(sims, n_accept, budget, expected):
    """Kills _hopeless #39 (``>= budget``), #23, #25, #26 (1,000 simulations at least), #13
    (a 21st check point), #24, #27 (check points past the last batch skipped, not a stop)."""
    assert _hopeless(np.array(sims), np.zeros(2), n_accept, budget).tolist() == expected


# sample_checks.check_failures -----------------------------------------------------------------

ADVICE = (
    "a vectorized simulator that raises fails its whole batch: return NaN rows for the "
    "parameters that fail instead, or fix the simulator"
)


@pytest.mark.parametrize(
    ("failed", "simulated", "warned"),
    [
        (999, 999, None),  # fewer than 1,000 simulations: too early
        (250, 1000, None),  # 25% = half of max_failed_share=0.5: quiet
        (300, 1000, "30.0% of 1,000"),  # over half of it: a warning
        (500, 1000, "50.0% of 1,000"),  # max_failed_share itself: still a warning
    ],
)
def test_failures_warn_from_half_the_limit(caplog, failed, simulated, warned):
    """Kills check_failures #1, #4-#7, #9-#11 (the thresholds), #12-#21 (the warning)."""
    check_failures(failed, simulated, 0.5, "gen 3")
    expected = [f"gen 3: {warned} simulations failed and were skipped; {ADVICE}."]
    assert caplog.messages == (expected if warned else [])


def test_failures_stop_past_the_limit():
    """Kills check_failures #2, #3 (1,000 simulations are enough to judge)."""
    with pytest.raises(SimulationError, match=r"max_failed_share=0.5 \(got 50.1% of 1,000 "):
        check_failures(501, 1000, 0.5, "gen 3")


# sampling.sample_until (with _cut and _sample) -------------------------------------------------


def frame(batches, distances):
    """The particles a Scripted engine keeps: ``mu`` is the batch, ``index`` 0 unless given."""
    return pd.DataFrame(
        {"batch": batches, "index": [0] * len(batches), "distance": distances, "mu": batches},
    ).astype({"batch": np.int64, "index": np.int64, "mu": float})


def test_rounds_grow_by_the_measured_rate_and_cut_at_the_nth_particle():
    """Rounds by hand (12 wanted, 1 particle a batch of 10 but none in batch 10): 12 / 1 / 10
    -> 2 batches; then 10 / 0.1 / 10 = 10, at most 4 x 2 = 8; then 2 / 0.1 / 10 -> 2, which
    find 1; then 1 / (11 / 120) / 10 = 1.09 -> 2. The 12th particle is in batch 12; batch 13
    ran past the cut. Kills sample_until #53, #54, #56, #62, #77-#84, #89-#92 (round sizes
    and their bookkeeping), _sample #31, #33, #34, #56-#58 and _cut's batch-order sort when a
    round's batches come back in any order."""
    engine = Scripted(lambda b: (10, 0, [] if b == 10 else [b / 100]))
    got = sample_until(engine, Task(10), 12, 10_000, 1.0, "gen 1")
    assert [c[0] for c in engine.calls] == [range(0, 2), range(2, 10), range(10, 12), range(12, 14)]
    labels = ("0-1", "2-9", "10-11", "12-13")
    assert [c[2] for c in engine.calls] == [f"gen 1 batches {r}" for r in labels]
    kept = [*range(10), 11, 12]
    pd.testing.assert_frame_equal(got.particles, frame(kept, [b / 100 for b in kept]))
    assert (got.n_proposals, got.n_simulations, got.n_failed, got.n_discarded) == (130, 130, 0, 10)
    assert (got.acceptance_rate, got.stop) == (12 / 130, "complete")


class Task:
    """A stand-in for a batch task: its batch size, epsilon and sample batches, and what
    ``simulated_after`` was asked (7 for any batch)."""

    def __init__(self, batch_size, epsilon=math.inf, sample_batches=0):
        self.batch_size, self.epsilon, self.sample_batches = batch_size, epsilon, sample_batches
        self.asked = []

    def simulated_after(self, batch, index):
        self.asked.append((batch, index))
        return 7


def test_the_simulations_after_the_nth_particle_are_asked_of_its_batch():
    """Three particles a batch (indices 0-2): the 5th is batch 1's index 1, so the task is
    asked for batch 1 after proposal 1, and its answer is ``n_after_last``. A generation the
    budget ends has no n-th particle: nothing is asked and it is 0."""
    engine = Scripted(lambda b: (10, 0, [0.1, 0.2, 0.3]))
    task = Task(10)
    got = sample_until(engine, task, 5, math.inf, 0.3)
    assert (task.asked, got.n_after_last, got.n_simulations, got.stop) == (
        [(1, 1)],
        7,
        20,
        "complete",
    )
    short = Task(10)
    got = sample_until(Scripted(lambda b: (10, 0, [0.1])), short, 5, 30, 0.1)
    assert (short.asked, got.n_after_last, got.stop) == ([], 0, "budget")


def test_the_tasks_epsilon_and_sample_batches_sort_what_its_batches_send():
    """Each batch sends distances 0.1 and 0.5 (as a sample batch sends all it simulated): only
    0.1 is within the task's epsilon 0.25, so 2 particles take batches 0 and 1, and both of
    batch 0's rows, below ``sample_batches=1``, are the statistics sample."""
    engine = Scripted(lambda b: (10, 0, [0.1, 0.5]))
    got = sample_until(engine, Task(10, epsilon=0.25, sample_batches=1), 2, math.inf)
    pd.testing.assert_frame_equal(got.particles, frame([0, 1], [0.1, 0.1]))
    assert got.statistics_sample.shape == (2, 0)
    assert sample_until(engine, Task(10), 2, math.inf).statistics_sample is None


def test_a_round_after_an_empty_one_uses_at_least_one_particle():
    """No particle in batch 0: the rate is taken as 1 / 10, so 2 / 0.1 / 10 -> 2 batches.
    Kills sample_until #61 (``max(accepted, 2)``) and _cut #29 (``fill_value=1``)."""
    engine = Scripted(lambda b: (10, 0, [0.5] if b else []))
    got = sample_until(engine, Task(10), 2, math.inf)
    assert [c[0] for c in engine.calls] == [range(0, 1), range(1, 3)]
    pd.testing.assert_frame_equal(got.particles, frame([1, 2], [0.5, 0.5]))
    assert (got.n_simulations, got.n_discarded, got.stop) == (30, 0, "complete")


def test_rounds_are_capped_by_the_budget_left_and_the_share_in_support():
    """Half of each batch's 10 proposals are simulated; a particle in even batches. Round 1:
    4 / 0.1 / 10 = 4 batches, capped at 20 / 10 = 2; round 2: 7 wanted, capped at 10 left / 5
    simulations a batch = 2. The budget of 20 is reached exactly at batch 3. Kills
    sample_until #63-#68, #94, #15, #20 and _cut #37 (``cum_sims > budget``)."""
    engine = Scripted(lambda b: (5, 0, [] if b % 2 else [0.5]))
    got = sample_until(engine, Task(10), 4, 20, 0.1)
    assert [c[0] for c in engine.calls] == [range(0, 2), range(2, 4)]
    pd.testing.assert_frame_equal(got.particles, frame([0, 2], [0.5, 0.5]))
    assert (got.n_proposals, got.n_simulations, got.n_discarded) == (40, 20, 0)
    assert (got.acceptance_rate, got.stop) == (0.1, "budget")


def test_defaults_start_at_a_rate_of_one_and_aim_at_the_need():
    """35 wanted, 10 particles a batch, rate_guess=1 and first_round=1: 35 / 1 / 10 -> 4
    batches, of which 35 particles are kept. Kills sample_until #1-#3 (their defaults)
    and _sample #53-#55 (the particles), #67 (``max(n_simulations, 2)``, below)."""
    engine = Scripted(lambda b: (10, 0, np.arange(10) / 10))
    got = sample_until(engine, Task(10), 35, math.inf)
    assert engine.calls == [(range(0, 4), None, " batches 0-3")]
    assert len(got.particles) == 35 and got.particles.index.tolist() == list(range(35))
    assert got.particles.columns.tolist() == ["batch", "index", "distance", "mu"]
    single = sample_until(Scripted(lambda b: (1, 0, [0.0])), Task(1), 1, math.inf)
    assert single.acceptance_rate == 1.0


def hopeless(engine, **options):
    """No particle in batches of 1,000 simulations, 10 wanted within 16,000."""
    return sample_until(engine, Task(1000), 10, 16_000, description="gen 0", **options)


def test_a_hopeless_generation_stops_at_its_first_failing_check_point(caplog):
    """Rounds of 1 and 4 batches; at 4,000 simulations (a quarter of the budget) the bound
    3 / 4,000 needs 4,000 + 10 x 4,000 / 3 > 16,000: hopeless at batch 3. 60% of every batch
    fails: a warning, not an error, under the default max_failed_share=1. Kills
    sample_until #4, #5, #16 (the defaults and give_up), #100-#110 and _cut #48."""
    got = hopeless(Scripted(lambda b: (1000, 600, [])))
    assert (got.n_simulations, got.n_failed, got.n_discarded) == (4000, 2400, 1000)
    assert (len(got.particles), got.acceptance_rate, got.stop) == (0, 0.0, "hopeless")
    assert [m.split(" simulations")[0] for m in caplog.messages] == [
        "gen 0: 60.0% of 1,000",
        "gen 0: 60.0% of 5,000",
    ]


def test_without_give_up_the_generation_runs_to_the_budget():
    """As above, with give_up_below=0: a third round of 11 batches reaches 16,000 exactly.
    Kills sample_until #21 (give_up_below not passed on) and _cut #49."""
    engine = Scripted(lambda b: (1000, 0, []))
    got = hopeless(engine, give_up_below=0)
    assert [c[0] for c in engine.calls] == [range(0, 1), range(1, 5), range(5, 16)]
    assert (got.n_simulations, got.n_discarded, got.stop) == (16_000, 0, "budget")


@pytest.mark.parametrize(
    "least, cut", [(3, (16_000, 0, "budget")), (4, (8_000, 8_000, "hopeless"))]
)
def test_a_generation_gives_up_only_if_it_cannot_reach_give_up_below(least, cut):
    """No particle ever; the bound at 4,000 simulations is 3 / 4,000, at 8,000 it is 3 / 8,000.
    3 particles could still come in 8,000 + 3 x 8,000 / 3 = 16,000 (the budget, not over it):
    it runs on to the budget's end; 4 could not (18,667 > 16,000): hopeless at batch 7, with
    the third round's 8 batches past it discarded."""
    got = hopeless(Scripted(lambda b: (1000, 0, [])), give_up_below=least)
    assert (got.n_simulations, got.n_discarded, got.stop) == cut


def test_failures_are_counted_across_rounds():
    """60 of 100 simulations fail in every batch; round 1 (5 batches, 500 simulations) is too
    early to judge, round 2 (20 more) makes 1,500 of 2,500. Kills sample_until #93, #98, #99
    (running totals) and #103-#110."""
    engine = Scripted(lambda b: (100, 60, []))
    with pytest.raises(SimulationError, match=r"\(got 60.0% of 2,500 simulations .* in gen 2\)"):
        sample_until(engine, Task(100), 10_000, 10_000, 1.0, "gen 2", 0.05, 0.5)


def test_proposals_outside_the_support_stop_the_run():
    """Nothing simulated in batches of 1,000: a first round of 1 batch, then each round as
    many as all before it (the rate taken as 1 particle in all of them): 1, 1, 2, 4, ..., 64
    batches reach 128,000 proposals. Kills sample_until #33, #34, #37 (the support check's
    arguments)."""
    engine = Scripted(lambda b: (0, 0, []))
    with pytest.raises(ValueError, match=r"support \(got 0 of 128,000\)"):
        sample_until(engine, Task(1000), 1, math.inf)
