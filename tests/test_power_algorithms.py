"""Tests with power for the algorithms: the sequential loop and rejection ABC (audit stage 5).

benchmarks/MUTATION.md ("Stage 5") lists the mutants of ``algorithms/sequential.py`` and
``algorithms/rejection.py`` that the fast tests let survive; each test here names, in its
docstring, the ones it kills (mutmut's numbering at d848eb1, where stage 5 ran).

The runs are tiny and in-process. The statistic of most of them is the parameter itself
(``identity``), so which draws are accepted, and every count, follows from the prior alone; a
recording engine shows what the algorithms ask of an engine.
"""

from __future__ import annotations

import io
import logging
import math
import re
import time

import numpy as np
import pandas as pd
import pytest

from abcspark import PMCABC, Prior, RejectionABC, SimulationError, Uniform, progress, storage
from abcspark.algorithms import sequential
from abcspark.algorithms.sequential import SequentialABC
from abcspark.engines import LocalEngine
from abcspark.problem import Problem
from abcspark.rows import concat, particle_columns

PRIOR = Prior(mu=Uniform(0, 1))


def identity(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The statistic is the parameter: the distance to ``[0.5]`` is ``|mu - 0.5|``."""
    return theta.copy()


def exact(message: str) -> str:
    """A ``match`` pattern for the whole message."""
    return "^" + re.escape(message) + "$"


class Recording(LocalEngine):
    """The NumPy engine, recording the handles it shares and releases and the job names."""

    def __init__(self):
        self.shared, self.released, self.descriptions = [], [], []

    def share(self, task):
        handle = super().share(task)
        self.shared.append(handle)
        return handle

    def run(self, shared, batches, best=None, description=""):
        self.descriptions.append(description)
        return super().run(shared, batches, best, description)

    def release(self, shared):
        self.released.append(shared)


def rejection(**problem) -> RejectionABC:
    return RejectionABC(PRIOR, identity, **{"engine": "numpy", **problem})


# --- rejection.py ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            dict(epsilon=0.1, n_samples=10, max_simulations=0),
            "max_simulations must be a positive int (got 0); e.g. max_simulations=10**9.",
        ),
        (
            dict(epsilon=-1.0, n_samples=10),
            "epsilon must be a number >= 0 (got -1.0); e.g. epsilon=0.5.",
        ),
        (
            dict(quantile=0.0, n_simulations=100),
            "quantile must be a number in (0, 1] (got 0.0); e.g. quantile=0.01.",
        ),
        (
            dict(quantile=0.1, n_simulations=0),
            "n_simulations must be a positive int (got 0); e.g. n_simulations=100_000.",
        ),
    ],
)
def test_rejection_run_arguments_are_refused_with_the_exact_message(kwargs, message):
    """Kills ``RejectionABC.run`` #13, #15, #18-#21 (the name and example of
    ``max_simulations``'s message) and ``rejection_mode`` (then ``_mode``) #29, #33, #37
    (``epsilon``'s example), #45, #51, #57 (``quantile``'s), #68, #70, #73-#76
    (``n_simulations``' name and example)."""
    with pytest.raises(ValueError, match=exact(message)):
        rejection().run([0.5], seed=1, **kwargs)


@pytest.mark.parametrize(
    ("n_simulations", "batch_size"),
    [
        (15, 1),  # a tenth, at least 1: max(2, ...) would give 2, auto_batch_size 10
        (50, 5),  # auto_batch_size (the n_samples rule) would give 10
        (100, 10),  # n // 11 would give 9
        (20_000, 1000),  # a tenth, at most 1,000: min(1001, ...) would give 1,001
    ],
)
def test_a_fixed_number_of_simulations_runs_in_batches_of_a_tenth(n_simulations, batch_size):
    """Without ``batch_size``, a fixed budget runs in batches of ``n_simulations // 10``,
    between 1 and 1,000; the batch size is recorded, and the history counts whole batches.

    Kills ``RejectionABC._batch_size`` #7, #12, #14 and ``RejectionABC.run`` #25 (the n_samples
    rule used for a fixed budget) and #135, #136 (``batch_size`` recorded under another key).
    """
    post = rejection().run([0.5], epsilon=math.inf, n_simulations=n_simulations, seed=2)
    assert post.metadata["settings"]["batch_size"] == batch_size
    n_batches = math.ceil(n_simulations / batch_size)
    assert post.history["n_proposals"].tolist() == [n_batches * batch_size]
    assert len(post.samples) == n_batches * batch_size  # epsilon inf: every draw is kept


def test_a_large_fixed_number_of_simulations_runs_in_at_most_max_batches(monkeypatch):
    """A fixed budget runs in at most ``MAX_BATCHES`` batches (1e5 in use: 1e9 simulations in
    batches of 10,000, not 1e6 of 1,000). With 100 in force, 200,000 simulations run in 100
    batches of 2,000, past the tenth's cap of 1,000; 20,000 keep batches of 1,000 (the floor,
    200, is below the tenth), so no budget up to 1e8 changes with 1e5 in force."""
    monkeypatch.setattr("abcspark.problem.MAX_BATCHES", 100)
    for n_simulations, batch_size in ((200_000, 2000), (20_000, 1000)):
        post = rejection().run([0.5], epsilon=0.5, n_simulations=n_simulations, seed=2)
        assert post.metadata["settings"]["batch_size"] == batch_size
        assert post.history["n_proposals"].tolist() == [n_simulations]


def test_n_simulations_of_exactly_one_batch_runs_and_fewer_are_refused():
    """``n_simulations`` equal to ``batch_size`` is one batch; fewer is refused.

    Kills ``RejectionABC._batch_size`` #21 (``<=``: one whole batch refused) and
    ``RejectionABC.run`` #25 (``n_simulations`` not passed on: the check never runs).
    """
    post = rejection(batch_size=100).run([0.5], quantile=0.1, n_simulations=100, seed=3)
    assert len(post.samples) == 10 and post.history["n_simulations"].tolist() == [100]
    message = (
        "n_simulations must be at least one batch, batch_size=100 (got 99); raise "
        "n_simulations, or leave batch_size unset."
    )
    with pytest.raises(ValueError, match=exact(message)):
        rejection(batch_size=100).run([0.5], quantile=0.1, n_simulations=99, seed=3)


@pytest.mark.parametrize(
    ("kwargs", "mode"),
    [
        (dict(epsilon=0.25, n_samples=40), "until"),
        (dict(quantile=0.25, n_simulations=200), "quantile"),
        (dict(epsilon=0.25, n_simulations=200), "budget"),
    ],
)
def test_rejection_metadata_records_the_stopping_rule(kwargs, mode):
    """``metadata`` names the mode; ``settings`` holds all four stopping arguments (None where
    not given) and the batch size used, besides the problem's settings.

    Kills ``RejectionABC.run`` #93-#104 (a stopping argument renamed, None or left out), #110,
    #119 (the problem's settings alone) and ``rejection_mode`` (then ``_mode``) #21, #22 (the
    ``budget`` mode renamed).
    """
    post = rejection(batch_size=20).run([0.5], seed=4, **kwargs)
    stopping = {**dict(epsilon=None, n_samples=None, n_simulations=None, quantile=None), **kwargs}
    settings = post.metadata["settings"]
    assert {key: settings[key] for key in stopping} == stopping
    assert settings["batch_size"] == 20 and settings["names"] == ["mu"]
    assert post.metadata["mode"] == mode


def test_rejection_history_row_wall_time_and_log_line(caplog):
    """The one history row is generation 0 and takes the run's wall time, which lies within
    the time measured around the call; the INFO line gives the counts, epsilon and seconds.

    Kills ``_record`` #8-#20 (the log line's format or arguments: pytest's log handler raises
    on a bad format), #21, #39 (``generation`` None or 1), #29 (``seconds`` None) and
    ``RejectionABC.run`` #90 (``seconds`` None), #91 (``perf_counter() + started``), #113, #122
    (``wall_seconds`` None or missing), #126 (None seconds into the history).
    """
    caplog.set_level(logging.INFO, logger="abcspark")
    before = time.perf_counter()
    post = rejection(batch_size=50).run([0.5], epsilon=0.25, n_samples=40, seed=5)
    measured = time.perf_counter() - before
    history, wall = post.history, post.metadata["wall_seconds"]
    assert history["generation"].tolist() == [0] and history["epsilon"].tolist() == [0.25]
    assert history["seconds"].tolist() == [wall] and 0 < wall <= measured
    line = (
        f"RejectionABC: 40 accepted of {history['n_simulations'].iloc[0]} simulations "
        f"(epsilon 0.25) in {wall:.1f} s"
    )
    assert [r.getMessage() for r in caplog.records if r.name == "abcspark"] == [line]


def test_rejection_names_its_engine_jobs_and_releases_the_shared_task():
    """``sample_until``'s rounds and ``sample_best``'s job are named after the algorithm, and
    the handle the engine shared is the one released.

    Kills ``RejectionABC._sample`` #7, #14 (``description`` None or missing in
    ``sample_until``), #30, #36 (likewise in ``sample_best``) and ``RejectionABC.run`` #77
    (``release(None)``: a Spark engine would keep its broadcast).
    """
    engine = Recording()
    rejection(batch_size=50, engine=engine).run([0.5], epsilon=0.25, n_samples=40, seed=6)
    assert engine.descriptions and all(
        re.fullmatch(r"RejectionABC batches \d+-\d+", d) for d in engine.descriptions
    )
    assert engine.descriptions[0].startswith("RejectionABC batches 0-")
    engine = Recording()
    rejection(batch_size=50, engine=engine).run([0.5], quantile=0.1, n_simulations=200, seed=6)
    assert engine.descriptions == ["RejectionABC"]
    assert len(engine.shared) == 1 and engine.released[0] is engine.shared[0]


def test_none_accepted_is_an_error_and_one_accepted_is_a_posterior():
    """A fixed budget that accepts nothing says so; a run that keeps one particle returns it.

    Kills ``RejectionABC.run`` #89 (``len == 1``: one particle refused, none let through).
    """
    message = (
        "epsilon=0.0 accepted none of 200 simulations; raise epsilon or n_simulations, or use "
        "quantile= instead."
    )
    with pytest.raises(ValueError, match=exact(message)):
        rejection(batch_size=50).run([0.5], epsilon=0.0, n_simulations=200, seed=7)
    post = rejection(batch_size=50).run([0.5], quantile=0.005, n_simulations=200, seed=7)
    assert len(post.samples) == 1 and post.distances[0] == post.epsilon


# --- sequential.py --------------------------------------------------------------------------


class Scheduled(SequentialABC):
    """The sequential loop with scripted hooks: generation ``g`` runs at ``plans[g]``
    (epsilon, particles), or stops before it if that is None (the budget left cannot buy it);
    it proposes from the prior and weights equally.

    With ``identity`` on U(0, 1) and observed ``[0.5]`` every distance is at most 0.5, so an
    epsilon of 0.5 or more accepts every simulation: a generation of ``n`` particles takes
    exactly ``n`` simulations, and one cut by ``k`` simulations left keeps ``k`` particles.
    """

    name = "Scheduled"

    def __init__(self, plans, *, simulate=identity, distance="euclidean", problem=(), **settings):
        problem = {"batch_size": 1, "engine": "numpy", **dict(problem)}
        defaults = dict(
            n_particles=10,
            generations=len(plans),
            min_epsilon=0.0,
            max_simulations=10**6,
            min_acceptance_rate=0.0,
            progress=False,
        )
        super().__init__(Problem(PRIOR, simulate, distance, **problem), **{**defaults, **settings})
        self.plans = plans

    def _plan(self, g, run):
        return self.plans[g]

    def _proposal(self, g, population, epsilon):
        return self.problem.prior

    def _weights(self, g, theta, proposal):
        return np.full(len(theta), 1.0 / len(theta))


FAR = Prior(mu=Uniform(0.0, 0.4))  # distances to 0.5 over 0.1
NEAR = Prior(mu=Uniform(0.46, 0.54))  # distances under 0.04


class Narrowing(Scheduled):
    """Generation 0 proposes where every distance exceeds 0.1, later ones where none reaches
    0.04: at a later epsilon of 0.05 every simulation is accepted and none of generation 0's
    particles is within it, so a generation the budget ends has none of them to join."""

    def _proposal(self, g, population, epsilon):
        return FAR if g == 0 else NEAR


def progress_lines(stream: io.StringIO) -> list:
    """The progress display's successive lines, each cut after its generation counter."""
    return [u.split("] ")[1].split("  ")[0] for u in stream.getvalue().split("\r")[1:]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(generations=0), "generations must be a positive int (got 0); e.g. generations=5."),
        (
            dict(min_epsilon=-1.0),
            "min_epsilon must be a number >= 0 (got -1.0); e.g. min_epsilon=0.1.",
        ),
        (
            dict(max_simulations=0),
            "max_simulations must be a positive int (got 0); e.g. max_simulations=10**6.",
        ),
        (
            dict(min_acceptance_rate=1.5),
            "min_acceptance_rate must be a number in [0, 1] (got 1.5).",
        ),
        (
            dict(min_epsilon_difference=-1.0),
            "min_epsilon_difference must be a number >= 0 (got -1.0); "
            "e.g. min_epsilon_difference=0.01.",
        ),
    ],
)
def test_stop_rules_are_refused_with_the_exact_message(kwargs, message):
    """Kills ``SequentialABC.__init__`` #15, #18, #21 (``generations``' example), #23, #26,
    #29-#32, #34 (``min_epsilon``: name, example, and #29 its lower bound), #38, #41, #44
    (``max_simulations``' example), #46, #53-#55, #57 (``min_acceptance_rate``: name, and #53,
    #57 its upper bound), #62, #66, #70 (``min_epsilon_difference``'s example)."""
    with pytest.raises(ValueError, match=exact(message)):
        PMCABC(PRIOR, identity, engine="numpy", **kwargs)


def test_sequential_defaults_and_the_smallest_population():
    """An algorithm that does not pass them gets ``min_epsilon_difference=0`` (off) and no
    ``max_walltime``; two particles are a population.

    Kills ``SequentialABC.__init__`` #1 (default 1.0) and #10, #11 (two particles refused).
    """
    algorithm = Scheduled([(1.0, 2), (1.0, 2)], n_particles=2)
    assert algorithm.min_epsilon_difference == 0.0 and algorithm.max_walltime is None
    post = algorithm.run([0.5], seed=8)
    assert len(post.samples) == 2 and post.metadata["stop_reason"] == "generations"


def test_sequential_settings_name_every_stop_rule():
    """Checkpoints and saved posteriors read the stop rules under these names.

    Kills ``SequentialABC.settings`` #5-#10 (``min_epsilon``, ``max_simulations``,
    ``min_acceptance_rate`` under other keys).
    """
    algorithm = Scheduled(
        [(1.0, 10)] * 3,
        min_epsilon=0.125,
        max_simulations=5000,
        min_acceptance_rate=0.25,
        min_epsilon_difference=0.5,
    )
    settings = algorithm.settings()
    assert settings == {
        **algorithm.problem.settings(),
        "n_particles": 10,
        "generations": 3,
        "min_epsilon": 0.125,
        "max_simulations": 5000,
        "min_acceptance_rate": 0.25,
        "min_epsilon_difference": 0.5,
    }


def test_progress_off_writes_nothing(monkeypatch):
    """``progress=False`` means no display at all.

    Kills ``SequentialABC._generations`` #12 (``Progress(generations, name)``: the name taken
    for ``enabled``, so the display is always on).
    """
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    post = Scheduled([(1.0, 10)] * 2, progress=False).run([0.5], seed=1)
    assert len(post.history) == 2 and stream.getvalue() == ""


class Display:
    """A stand-in for ``IPython.display.display``: records the bundles it is given."""

    def __init__(self):
        self.bundles = []

    def __call__(self, bundle, raw, display_id):
        self.bundles.append(bundle)
        return self

    def update(self, bundle, raw):
        self.bundles.append(bundle)


def test_the_jupyter_display_is_titled_with_the_algorithm(monkeypatch):
    """In Jupyter the display's title is the algorithm's name.

    Kills ``SequentialABC._generations`` #10 (title None: the HTML fails to build) and #13
    (the default title, ``abcspark``).
    """
    pytest.importorskip("IPython")
    display = Display()
    monkeypatch.setattr(progress, "_in_jupyter", lambda: True)
    monkeypatch.setattr("IPython.display.display", display)
    Scheduled([(1.0, 10)] * 2, progress=True).run([0.5], seed=1)
    assert len(display.bundles) == 3  # two generations, then done
    assert all("<b>Scheduled</b>" in b["text/html"] for b in display.bundles)


def test_a_resumed_run_shows_the_saved_generations(tmp_path, monkeypatch):
    """The generations read from a checkpoint are shown before any new one.

    Kills ``SequentialABC._generations`` #14 (``progress.update(None)`` for each resumed one).
    """
    path = str(tmp_path / "run")
    first = Scheduled([(1.0, 10)] * 2).run([0.5], seed=2, checkpoint=path)
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    again = Scheduled([(1.0, 10)] * 2, progress=True).run([0.5], seed=2, checkpoint=path)
    assert progress_lines(stream) == ["generation 1/2", "generation 2/2", "generation 2/2"]
    assert stream.getvalue().endswith(", done\n")
    np.testing.assert_array_equal(again.samples.to_numpy(), first.samples.to_numpy())


def test_a_generation_the_budget_left_cannot_buy_is_not_started(caplog, monkeypatch):
    """``_plan`` None: a warning names the simulations left, the run ends on the last
    generation with ``max_simulations``, and the display shows that generation once.

    Kills ``SequentialABC._generation`` #9 (``max_simulations + n_used`` left), #16 (the
    warning's text) and ``SequentialABC._generations`` #24, #25 (``unaffordable`` renamed: the
    last generation saved and shown again).
    """
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    algorithm = Scheduled([(1.0, 10), None, (1.0, 10)], max_simulations=50, progress=True)
    post = algorithm.run([0.5], seed=3)
    assert len(post.history) == 1 and post.metadata["stop_reason"] == "max_simulations"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["stopping before generation 1: 40 simulations left cannot buy it"]
    assert progress_lines(stream) == ["generation 1/3", "generation 1/3"]


CUT = [
    # (n_particles, epsilon of generation 0, simulations left for generation 1, kept)
    (100, 1.0, 20, False),  # 20 < 25, a quarter of n_particles: dropped
    (100, 1.0, 25, True),  # exactly a quarter: kept
    (4, 1.0, 2, True),  # a quarter is 1, but at least 2 are needed: 2 is enough
    (4, math.inf, 2, True),  # after the prior, 2 particles are enough
    (100, math.inf, 2, True),  # likewise, however small a share of n_particles
    (100, math.inf, 1, False),  # one particle is not a population
]


@pytest.mark.parametrize(("n_particles", "first", "left", "kept"), CUT)
def test_a_cut_generation_is_kept_from_a_quarter_of_n_particles(
    n_particles, first, left, kept, caplog, monkeypatch
):
    """Generation 1 is cut by the budget with exactly ``left`` particles (every simulation is
    accepted, and none of generation 0's particles is within its epsilon to join them:
    ``Narrowing``); it is kept if it holds ``max(2, n_particles / 4)`` of them (2 after a
    generation at epsilon inf), else dropped with a warning giving the budget's message, and
    the display shows generation 0 once more only as ``done``.

    Kills ``SequentialABC._generation`` #56 (``max(3, ...)``), #57 (``0.25 / n_particles``),
    #62 (3 after inf), #63 (``<=``: exactly a quarter dropped), #64-#77 (the warning's format,
    text or arguments; pytest's log handler raises on a bad format), #79 (``n_dropped -=``),
    #81, #82 (``dropped`` renamed: it becomes the stop reason), #133 (None returned for a cut
    generation: the run stops on ``generations`` instead), ``SequentialABC._generations`` #22,
    #23 (``dropped`` renamed: generation 0 saved and shown again) and ``SequentialABC.run``
    #50 (the dropped simulations not counted), #59, #60 (``dropped`` not reported as
    ``max_simulations``).
    """
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    budget = n_particles + left
    plans = [(first, n_particles), (0.05, n_particles)]
    post = Narrowing(plans, n_particles=n_particles, max_simulations=budget, progress=True).run(
        [0.5], seed=4
    )
    assert post.metadata["stop_reason"] == "max_simulations"
    assert post.metadata["n_simulations"] == budget  # counted, or dropped
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    if kept:
        assert len(post.history) == 2 and len(post.samples) == left and warnings == []
        assert progress_lines(stream) == ["generation 1/2", "generation 2/2", "generation 2/2"]
    else:
        assert len(post.history) == 1 and len(post.samples) == n_particles
        least = 2 if first == math.inf else max(2, n_particles / 4)
        weak = 0 if first == math.inf else n_particles / 4  # a quarter of generation 0's ESS
        assert warnings == [
            f"dropping generation 1 (a cut one is kept from {least:.3g} particles and an ESS "
            f"of {weak:.3g}): max_simulations={budget} was reached with {left} of "
            f"{n_particles} particles accepted in {left} simulations: acceptance rate 1, so "
            f"the request needs about {n_particles:.2g} simulations; raise epsilon or "
            "max_simulations."
        ]
        assert progress_lines(stream) == ["generation 1/2", "generation 1/2"]


def test_the_run_stops_when_the_budget_is_spent_exactly():
    """Kills ``SequentialABC._stop_reason`` #11 (``n_used > max_simulations``: a run that
    spent exactly its budget starts another generation)."""
    post = Scheduled([(1.0, 10)] * 5, problem=dict(batch_size=10), max_simulations=20).run(
        [0.5], seed=5
    )
    assert len(post.history) == 2 and post.metadata["stop_reason"] == "max_simulations"
    assert post.metadata["n_simulations"] == 20


@pytest.mark.parametrize(
    ("epsilons", "settings", "n_generations", "stop"),
    [
        # Every simulation is accepted: a rate of exactly 1 is not below 1.
        ([1.0, 1.0, 1.0], dict(min_acceptance_rate=1.0), 3, "generations"),
        # Falls of exactly 0.25 (binary fractions) are not below 0.25.
        ([1.0, 0.75, 0.5], dict(min_epsilon_difference=0.25), 3, "generations"),
        # The first fall, 0.01, is below 0.05: stop after two generations.
        ([1.0, 0.99, 0.5], dict(min_epsilon_difference=0.05), 2, "min_epsilon_difference"),
    ],
)
def test_stop_rules_at_their_boundaries(epsilons, settings, n_generations, stop):
    """Kills ``SequentialABC._stop_reason`` #14 (``acceptance_rate <= min``), #20
    (``len(records) > 2``: the first fall never checked), #25 (a fall equal to
    ``min_epsilon_difference`` stops)."""
    plans = [(e, 10) for e in epsilons]
    post = Scheduled(plans, problem=dict(batch_size=10), **settings).run([0.5], seed=6)
    assert post.history["epsilon"].tolist() == epsilons[:n_generations]
    assert post.metadata["stop_reason"] == stop


class Clock:
    """A stand-in for the ``time`` module of ``sequential``: ``perf_counter`` reads ``now``."""

    def __init__(self, now: float):
        self.now = now

    def perf_counter(self) -> float:
        return self.now


class Timed(Scheduled):
    """Each generation takes exactly ``step`` seconds of ``clock``."""

    def __init__(self, plans, clock, step, **settings):
        super().__init__(plans, **settings)
        self.clock, self.step = clock, step

    def _weights(self, g, theta, proposal):
        self.clock.now += self.step
        return super()._weights(g, theta, proposal)


def test_max_walltime_counts_from_the_start_and_a_run_may_take_exactly_it(monkeypatch):
    """With a clock at 1,000 s and generations of exactly 5 s, ``max_walltime=5`` lets the
    second generation start (5 s is not more than 5) and no third; the history and metadata
    carry those seconds.

    Kills ``SequentialABC._stop_reason`` #30 (``perf_counter() + started``), #31 (``>=``),
    ``SequentialABC._generation`` #121 (a generation's seconds ``perf_counter() + started``)
    and ``SequentialABC.run`` #42, #51, #63 (``wall_seconds`` None, missing or a sum).
    """
    clock = Clock(1000.0)
    monkeypatch.setattr(sequential, "time", clock)
    algorithm = Timed([(1.0, 10)] * 5, clock, 5.0, problem=dict(batch_size=10), max_walltime=5.0)
    post = algorithm.run([0.5], seed=7)
    assert post.metadata["stop_reason"] == "max_walltime"
    assert post.history["seconds"].tolist() == [5.0, 5.0]
    assert post.metadata["wall_seconds"] == 10.0


def test_each_generation_logs_one_info_line_and_the_seed_is_recorded(caplog):
    """Kills ``SequentialABC._generation`` #122-#129 (the INFO line's format or arguments;
    pytest's log handler raises on a bad format) and ``SequentialABC.run`` #39, #48 (the seed
    missing from the metadata)."""
    caplog.set_level(logging.INFO, logger="abcspark")
    post = Scheduled([(1.0, 10)] * 2, problem=dict(batch_size=10)).run([0.5], seed=9)
    assert post.metadata["seed"] == 9
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert lines == [
        f"Scheduled generation {g}: epsilon 1, acceptance rate 1, 10 simulations, ESS 10.0"
        for g in (0, 1)
    ]


def test_sequential_names_its_engine_jobs_and_releases_each_shared_task():
    """Kills ``SequentialABC._sample`` #29, #41 (the description None or missing) and #54
    (``release(None)``)."""
    engine = Recording()
    Scheduled([(1.0, 10)] * 2, problem=dict(batch_size=10, engine=engine)).run([0.5], seed=10)
    assert engine.descriptions == [f"abcspark Scheduled generation {g} batches 0-0" for g in (0, 1)]
    assert len(engine.shared) == 2
    assert all(r is s for r, s in zip(engine.released, engine.shared))


def test_the_problems_max_failed_share_reaches_the_sampler():
    """With ``on_error='skip'`` and 60% of the simulations failing, the default
    ``max_failed_share=0.5`` stops the run, naming the generation.

    Kills ``SequentialABC._sample`` #43 (``max_failed_share`` not passed: the sampler's
    default, 1.0, lets it run) and #29, #41 (the generation's name in the message).
    """

    def fails_above(theta, rng):
        out = theta.copy()
        out[theta[:, 0] > 0.4] = np.nan  # 60% of the prior's draws
        return out

    algorithm = Scheduled(
        [(1.0, 500)],
        simulate=fails_above,
        n_particles=500,
        problem=dict(batch_size=100, on_error="skip"),
    )
    # The only statistical test here. The check runs from 1,000 simulations on, where the
    # failed share's sd is at most sqrt(0.6 * 0.4 / 1,000) = 1.55%: a share within 50% (a
    # warning only) is 6.5 sd below 60%, probability < 1e-10.
    with pytest.raises(
        SimulationError,
        match=r"max_failed_share=0\.5 \(got [\d.]+% of [\d,]+ simulations failed and were "
        r"skipped in abcspark Scheduled generation 0\)",
    ):
        algorithm.run([0.5], seed=11)


# Checkpoints


def test_a_checkpoint_holds_parameters_distance_and_weight(tmp_path):
    """The saved particles are the documented columns, nothing else.

    Kills ``SequentialABC._generation`` #92, #99 (``reset_index(drop=False)``: an ``index``
    column saved with every generation).
    """
    Scheduled([(1.0, 10)]).run([0.5], seed=12, checkpoint=str(tmp_path))
    saved = pd.read_parquet(tmp_path / "generation-0000.parquet")
    assert sorted(saved.columns) == ["distance", "mu", "weight"] and len(saved) == 10


class Renamed(Scheduled):
    """The same settings under another algorithm's name."""

    name = "Renamed"


@pytest.mark.parametrize(
    ("algorithm", "observed", "seed", "differs"),
    [
        (Scheduled, [0.25], 13, "observed"),
        # Equal to 8 digits: repr of an array would make them one problem.
        (Scheduled, [0.1234567891], 13, "observed"),
        # The simulator's fingerprint (in the settings) is of its dry run, keyed by the seed.
        (Scheduled, [0.1234567890], 14, "seed, settings (simulate)"),
        (Renamed, [0.1234567890], 13, "algorithm"),
    ],
)
def test_a_checkpoint_of_a_different_problem_is_refused_by_name(
    tmp_path, algorithm, observed, seed, differs
):
    """``run.json`` holds the algorithm, seed and observed statistics (exactly), so a run that
    differs in one of them is refused, naming it.

    Kills ``SequentialABC._checkpoint`` #2, #3 (observed None: any observed resumes), #4
    (``repr`` of the array: equal to 8 digits is the same), #8-#11, #14, #15 (the keys
    renamed: the message names another field).
    """
    path = str(tmp_path)
    Scheduled([(1.0, 10)]).run([0.1234567890], seed=13, checkpoint=path)
    message = (
        f"checkpoint {path} must hold this same problem to resume (got a run that differs in "
        f"{differs}); pass a new checkpoint path, or delete the old one to start over."
    )
    with pytest.raises(ValueError, match=exact(message)):
        algorithm([(1.0, 10)]).run(observed, seed=seed, checkpoint=path)


def simulate_one(theta: np.ndarray, rng: np.random.Generator) -> dict:
    """A per-parameter simulator (``vectorized=False``): any object, here a dict."""
    return {"mu": float(theta[0])}


def distance_one(simulated: dict, observed: dict) -> float:
    return abs(simulated["mu"] - observed["mu"])


def test_a_per_parameter_checkpoint_tells_observed_objects_apart(tmp_path):
    """Observed objects (not arrays) are described by ``repr``: the same one resumes, another
    is refused.

    Kills ``SequentialABC._checkpoint`` #5 (``observed.tolist()`` of a dict) and #6
    (``repr(None)``: every observed object is the same problem).
    """

    def scheduled():
        return Scheduled(
            [(1.0, 10)],
            simulate=simulate_one,
            distance=distance_one,
            problem=dict(vectorized=False),
        )

    path = str(tmp_path)
    first = scheduled().run({"mu": 0.5}, seed=15, checkpoint=path)
    again = scheduled().run({"mu": 0.5}, seed=15, checkpoint=path)
    np.testing.assert_array_equal(again.samples.to_numpy(), first.samples.to_numpy())
    with pytest.raises(ValueError, match="differs in observed"):
        scheduled().run({"mu": 0.25}, seed=15, checkpoint=path)


def test_a_checkpoint_uri_is_opened_with_the_engines_session(tmp_path, monkeypatch):
    """A URI checkpoint is read and written through the engine's own Spark session (here a
    stand-in; the storage is redirected to a local folder).

    Kills ``SequentialABC._checkpoint`` #19, #22, #23, #28, #29 (None, or another attribute,
    given as the session: ``storage.for_path`` would then find or start one of its own).
    """
    sessions = []

    def for_path(path, spark=None):
        sessions.append((path, spark))
        return storage.LocalStorage(str(tmp_path))

    monkeypatch.setattr(storage, "for_path", for_path)
    engine = Recording()
    engine.spark = object()
    Scheduled([(1.0, 10)], problem=dict(engine=engine)).run([0.5], seed=16, checkpoint="s3://b/r")
    assert sessions == [("s3://b/r", engine.spark)]
    assert (tmp_path / "generation-0000.json").exists()


# A generation the sampler gives up on


class Scripted(LocalEngine):
    """Generation 0 runs for real; in later ones each batch accepts exactly ``accept`` of its
    ``batch_size`` simulations, so the sampler's rounds and cut are worked out by hand."""

    def __init__(self, accept: int):
        self.accept = accept

    def run(self, shared, batches, best=None, description=""):
        if shared.generation == 0:
            return super().run(shared, batches, best, description)
        k, n = self.accept, shared.batch_size
        theta, distances = np.full((k, 1), 0.5), np.zeros(k)
        return concat(
            [particle_columns(["mu"], b, np.arange(k), theta, distances, n, 0) for b in batches]
        )


def hopeless(n_particles: int, accept: int = 2) -> Scheduled:
    """Generation 0: ``n_particles`` of one batch of 200 simulations. Generation 1: ``accept``
    of each batch of 200 accepted, 6,000 simulations left; it gives up only if even an
    optimistic rate cannot find the quarter of ``n_particles`` that keeps it. At epsilon 0 none
    of generation 0's particles is within it to join, and the forecast rate is a quarter of
    generation 0's (1: every simulation accepted).

    With ``n_particles=100`` its rounds are batches 0-1 (0.8 of 100 / 0.25 / 200), 2-9 (four
    times the batches so far), then 10-29, to the budget's end; with 200, batches 0-3 and
    4-19 (4,000 simulations). With ``accept=2``, the check at a quarter of the budget,
    batch 7 (1,600 simulations, 16 particles), bounds the rate by (16 + 3 + 12) / 1,600 =
    0.019375, and the one at half, batch 14 (3,000 simulations, 30 particles), by (30 + 3 + 3
    sqrt 30) / 3,000 = 0.01648: 25 particles for 100 are within reach. With ``accept=1`` the
    half's bound is (15 + 3 + 3 sqrt 15) / 3,000 = 0.009873: 3,000 + 35 / 0.009873 = 6,545 >
    6,000, so 50 particles for 200 are not.
    """
    plans = [(1.0, n_particles), (0.0, n_particles), (0.0, n_particles)]  # none to join
    return Scheduled(
        plans,
        n_particles=n_particles,
        max_simulations=6200,
        problem=dict(batch_size=200, engine=Scripted(accept)),
    )


def test_a_generation_the_budget_cannot_complete_runs_to_its_end_and_is_kept():
    """100 particles wanted, 60 found in the 6,000 simulations left (a quarter is 25): it runs
    on to the budget's end rather than giving up at half with 30, leaves nothing unspent, is
    kept and ends the run.

    Kills ``SequentialABC._generation`` #133 (None returned for a cut generation: the run goes
    on to generation 2) and a ``give_up_below`` of ``n_particles`` (cut as hopeless at batch 14
    with 30 particles, 2,000 simulations discarded and 1,000 unspent).
    """
    post = hopeless(100).run([0.5], seed=17)
    assert post.metadata["stop_reason"] == "max_simulations" and len(post.samples) == 60
    assert post.history["n_simulations"].tolist() == [200, 6000]
    assert post.history["n_discarded"].tolist() == [0, 0]
    assert post.metadata["n_simulations"] == 6200


def test_a_dropped_generation_counts_every_simulation_it_ran(caplog):
    """200 particles, 1 a batch: cut as hopeless at batch 14 with 15 particles (a quarter is 50,
    out of reach): dropped; its 3,000 simulations up to the cut and 1,000 past it (batches
    15-19 of the round that ran to 19) are all counted.

    Kills ``SequentialABC._generation`` #80 (``n_simulations - n_discarded`` dropped).
    """
    post = hopeless(200, accept=1).run([0.5], seed=18)
    assert len(post.history) == 1 and len(post.samples) == 200
    assert post.metadata["n_simulations"] == 200 + 4000
    assert post.metadata["n_discarded"] == 4000
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "dropping generation 1 (a cut one is kept from 50 particles and an ESS of 50): "
        "max_simulations=6,200 cannot be enough with 15 of 200 "
        "particles accepted in 3,000 simulations: acceptance rate 0.005, so the request needs "
        "about 4e+04 simulations; raise epsilon or max_simulations."
    ]


def test_a_dropped_generation_sized_to_the_budget_reports_the_particles_it_wanted(caplog):
    """Generation 1 is planned at 40 particles (the last, sized to the budget), not
    ``n_particles`` (10); cut at 2 particles, it is dropped, and the warning counts the 40."""
    post = Narrowing([(1.0, 10), (0.05, 40)], max_simulations=12).run([0.5], seed=19)
    assert len(post.history) == 1 and post.metadata["n_simulations"] == 12
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "was reached with 2 of 40 particles accepted" in warnings[0]


def test_a_generation_at_the_last_epsilon_sized_to_the_budget_joins_the_last_one(caplog):
    """Generation 1 at generation 0's epsilon, sized to the budget (40 planned, 2 found): its
    particles join generation 0's, 12 in all, each of weight 1/12 (ESS 10 and 2 share it), and
    nothing is dropped or unspent. The same plan at another epsilon is dropped (above)."""
    post = Scheduled([(1.0, 10), (1.0, 40)], max_simulations=12).run([0.5], seed=19)
    assert len(post.history) == 2 and len(post.samples) == 12
    np.testing.assert_allclose(post.weights, np.full(12, 1 / 12))
    assert post.history["ess"].iloc[-1] == pytest.approx(12)
    assert (
        post.metadata["n_simulations"] == 12 and post.metadata["stop_reason"] == "max_simulations"
    )
    assert [r for r in caplog.records if r.levelno == logging.WARNING] == []


def test_a_cut_generation_joins_the_last_particles_within_its_epsilon():
    """Generation 1 at epsilon 0.25 is cut after 40 simulations: its particles join those of
    generation 0 with distances within 0.25, each set equally weighted (ESS = its size), so
    every one of the joined particles weighs the same; none outside 0.25 is kept."""
    post = Scheduled([(1.0, 100), (0.25, 100)], max_simulations=140).run([0.5], seed=20)
    first = Scheduled([(1.0, 100)], max_simulations=140).run([0.5], seed=20)
    inside = int((first.distances <= 0.25).sum())
    new = int(post.history["acceptance_rate"].iloc[1] * 40)
    assert 0 < new < 40 and 0 < inside < 100
    assert len(post.samples) == inside + new and (post.distances <= 0.25).all()
    np.testing.assert_allclose(post.weights, np.full(inside + new, 1 / (inside + new)))
    assert post.history["ess"].iloc[1] == pytest.approx(inside + new)


class Lopsided(Narrowing):
    """Generation 1's first particle carries ``heavy`` times the weight of each other one."""

    def __init__(self, plans, heavy, **settings):
        super().__init__(plans, **settings)
        self.heavy = heavy

    def _weights(self, g, theta, proposal):
        weights = np.ones(len(theta))
        if g == 1:
            weights[0] = self.heavy
        return weights / weights.sum()


@pytest.mark.parametrize(("heavy", "kept"), [(1.0, True), (6.0, True), (8.0, False)])
def test_a_cut_generation_whose_ess_falls_below_a_quarter_of_the_last_is_dropped(
    heavy, kept, caplog
):
    """Generation 0 holds 100 equally weighted particles (ESS 100); generation 1 is cut with
    40 (enough by count: 25). Its ESS is (heavy + 39)^2 / (heavy^2 + 39): 40 when all are
    equal, 27.0 at heavy 6 (kept: not under a quarter of 100), 21.4 at heavy 8: dropped, as
    such a population is worse than the one it would replace (the 10-d accuracy case: ESS 7.7
    of 117 particles after a generation of ESS 101).
    """
    post = Lopsided([(1.0, 100), (0.05, 100)], heavy, n_particles=100, max_simulations=140).run(
        [0.5], seed=4
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert post.metadata["n_simulations"] == 140
    if kept:
        assert len(post.history) == 2 and len(post.samples) == 40 and warnings == []
    else:
        assert len(post.history) == 1 and len(post.samples) == 100
        assert post.metadata["n_simulations_dropped"] == 40
        assert warnings[0].startswith(
            "dropping generation 1 (a cut one is kept from 25 particles and an ESS of 25): "
        )
