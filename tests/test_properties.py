"""Properties of the public API under random input: a sound posterior, or a clear abcspark error.

Hypothesis draws priors (1-4 components of every kind, with valid or broken parameters),
simulators whose output has the right or a wrong shape and dtype, distances and kernels, and
arguments of the wrong kinds (NumPy scalars, bools, strings, negative, huge, NaN, inf). Every
call of the in-process engine must either return a `Posterior` whose particles lie in the
prior's support, with finite weights summing to 1 and finite distances, or raise ``ValueError``
/ ``TypeError`` whose message names the argument at fault ('simulate' for the simulator's
output, the distribution's class or field for a prior). A call with valid arguments fails only
in the documented ways (the budget runs out, epsilon accepts nothing). NumPy's RuntimeWarnings
count as failures, as in the project's pytest settings.

The bugs the properties found (B1-B17, all fixed) are replayed, each by its smallest example,
in ``test_found_bug``: a regression suite of the inputs that once broke the package.
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Optional

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from abcspark import (
    PMCABC,
    Beta,
    BudgetExhausted,
    Categorical,
    Euclidean,
    Gamma,
    GaussianKernel,
    LocalKernel,
    LogNormal,
    Manhattan,
    MultivariateNormal,
    Normal,
    OLCMKernel,
    Poisson,
    Posterior,
    Prior,
    RejectionABC,
    ScaledEuclidean,
    TruncatedNormal,
    Uniform,
)

# Reproducible in CI: the same examples on every run, and no example database on disk.
PROPERTY = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
KINDS = {
    cls.__name__: cls
    for cls in (
        Uniform,
        Normal,
        LogNormal,
        TruncatedNormal,
        Beta,
        Gamma,
        Poisson,
        Categorical,
        MultivariateNormal,
    )
}
FIELDS = {name: cls._fields for name, cls in KINDS.items()}
HARD_CAP = 20_000
"""Simulations after which a run that may legitimately need more is cut short (inconclusive)."""
SECONDS = 10.0
"""Wall time after which a run is cut short: a run that never ends is a failure of its own."""


# Values of the wrong kinds, and of the right kind but out of range or extreme.
ODD_NUMBERS = [
    True,
    False,
    None,
    "1",
    "0.5",
    -1,
    0,
    -(10**18),
    10**18,
    2**64,
    2**2000,
    -1.0,
    0.0,
    2.5,
    1e-300,
    1e308,
    -1e308,
    math.nan,
    math.inf,
    -math.inf,
    np.nan,
    np.int64(3),
    np.int32(2),
    np.uint8(5),
    np.float32(0.5),
    np.float16(2.0),
    np.float64(1.5),
    np.bool_(True),
    [1.0],
]


def chance(p: float) -> st.SearchStrategy:
    """True with probability ``p`` (to a percent); shrinks to False."""
    return st.integers(0, 999).map(lambda u: u >= 1000 - round(1000 * p))


def odd_or(valid: st.SearchStrategy, p_odd: float) -> st.SearchStrategy:
    """``valid`` values as Python or NumPy numbers; with probability ``p_odd`` an odd value."""
    return chance(p_odd).flatmap(
        lambda odd: valid.flatmap(lambda v: st.sampled_from(_odd_twins(v) if odd else _twins(v)))
    )


def _twins(v: Any) -> list:
    """``v`` and the same number as NumPy scalars."""
    if isinstance(v, int):
        return [v, np.int64(v), *([np.int32(v), np.uint16(v)] if v < 2**16 else [])]
    if isinstance(v, float):
        return [v, np.float64(v), np.float32(v), np.float16(v)]
    return [v]


def _odd_twins(v: Any) -> list:
    """ODD_NUMBERS, and ``v`` as a float (which a count must refuse) or a string."""
    return [*ODD_NUMBERS, float(v) if isinstance(v, int) else v, str(v)]


# Prior components: (kind, constructor arguments), valid or not.


CONTINUOUS = sorted(k for k, cls in KINDS.items() if not cls.discrete)


@st.composite
def valid_component(draw: Any, kinds: tuple) -> tuple:
    """A component with valid parameters, at a scale of 1 or (a third of the time) 1e-6 to 1e6."""
    kind = draw(st.sampled_from(kinds))
    f = st.floats
    c = 10.0 ** draw(st.sampled_from([0, -6, -3, 3, 6])) if draw(chance(0.33)) else 1.0
    if kind == "Uniform":
        low = draw(f(-100, 100))
        return kind, [c * low, c * (low + draw(f(1e-3, 100)))]
    if kind == "Normal":
        return kind, [c * draw(f(-100, 100)), c * draw(f(1e-3, 100))]
    if kind == "LogNormal":
        return kind, [draw(f(-5, 5)), draw(f(1e-2, 3))]
    if kind == "TruncatedNormal":
        mean, sd = draw(f(-10, 10)), draw(f(1e-2, 10))
        low = mean + sd * draw(f(-3, 2))
        return kind, [c * mean, c * sd, c * low, c * (low + sd * draw(f(0.1, 5)))]
    if kind in ("Beta", "Gamma"):
        return kind, [draw(f(0.1, 10)), draw(f(0.1, 10)) * (c if kind == "Gamma" else 1.0)]
    if kind == "Poisson":
        return kind, [draw(f(0.1, 20))]
    if kind == "Categorical":
        raw = draw(st.lists(f(0.01, 1), min_size=1, max_size=5))
        return kind, [[p / sum(raw) for p in raw]]
    d = draw(st.integers(1, 3))
    a = np.array(draw(st.lists(f(-2, 2), min_size=d * d, max_size=d * d))).reshape(d, d)
    cov = c * c * (a @ a.T + 0.1 * np.eye(d))
    return kind, [[c * m for m in draw(st.lists(f(-10, 10), min_size=d, max_size=d))], cov.tolist()]


ODD_ARRAYS = [
    [],
    [[1.0]],
    ["a", "b"],
    None,
    [math.nan, 1.0],
    [math.inf],
    [-0.5, 1.5],
    [0.3, 0.3],
    [[1.0, 2.0], [3.0, 4.0]],
    [[1.0, 0.0], [0.0, -1.0]],
    [[1.0, 2.0], [2.0, 1.0]],
    [[0.0]],
    [[1e308, 0.0], [0.0, 1e308]],
    [1e308, -1e308],
    np.array([True, False]),
    3.0,
]


@st.composite
def component(draw: Any, kinds: list, p_odd: float) -> tuple:
    """A component's kind and arguments, one of them odd with probability ``p_odd``."""
    kind, args = draw(valid_component(kinds))
    if draw(chance(p_odd)):
        i = draw(st.integers(0, len(args) - 1))
        array = kind in ("Categorical", "MultivariateNormal")
        args[i] = draw(st.sampled_from(ODD_ARRAYS if array else ODD_NUMBERS))
    return kind, args


@st.composite
def prior_spec(draw: Any, kinds: tuple = tuple(KINDS), p_odd: float = 0.3) -> list:
    """1-4 components named p0, p1, ... (with ``p_odd``, rarely a reserved or private name)."""
    parts = draw(st.lists(component(kinds, p_odd), min_size=1, max_size=4))
    names = [f"p{i}" for i in range(len(parts))]
    if draw(chance(p_odd / 6)):
        names[0] = draw(st.sampled_from(["weight", "distance", "_hidden", "generation"]))
    return [(name, kind, args) for name, (kind, args) in zip(names, parts)]


def build_prior(spec: list) -> Prior:
    return Prior(**{name: KINDS[kind](*args) for name, kind, args in spec})


def prior_words(spec: list) -> set:
    """What a message about this prior may name: kinds, their fields, component names."""
    words = {kind for _, kind, _ in spec} | {"Prior"}
    words |= {f for _, kind, _ in spec for f in FIELDS[kind]}
    return words | {name for name, _, _ in spec}


# Simulators: a smooth, bounded model (finite for any finite theta), and broken variants.

SIMULATOR_OUTPUTS = {
    # output -> (must the run fail for it, may it)
    "float64": (False, False),
    "float32": (False, False),
    "int": (False, False),
    "list": (False, False),
    "object_float": (False, False),
    "object_str": (True, True),
    "wrong_k": (True, True),
    "wrong_n": (True, True),
    "flat": (True, True),
    "three_d": (True, True),
    "scalar": (True, True),
    "none": (True, True),
    "nan_all": (True, True),
    "nan_some": (False, True),
    "raise_some": (False, True),
}


class Overspent(BaseException):
    """Raised by the test's simulator past its budget: not an Exception, so never swallowed."""


@dataclass
class Simulator:
    """A vectorized simulator ``(theta (n, d), rng) -> (n, k)`` whose output is ``kind``."""

    output: str
    k: int
    limit: int = HARD_CAP
    calls: int = 0
    started: float = field(default_factory=time.perf_counter)

    def __call__(self, theta: np.ndarray, rng: np.random.Generator) -> Any:
        n = len(theta)
        self.calls += n
        if self.calls > self.limit or time.perf_counter() - self.started > SECONDS:
            raise Overspent(self.calls)
        centre = self.centre(theta)
        stats = centre[:, None] + 0.3 * rng.standard_normal((n, self.k))
        out = self.output
        if out in ("nan_some", "nan_all", "raise_some"):
            bad = self.undefined(theta) if out != "nan_all" else np.ones(n, bool)
            if out == "raise_some" and bad.any():
                raise ArithmeticError("the model is undefined where the mean of theta > 5.5")
            stats[bad] = np.nan
            return stats
        return _reshape(stats, out)

    @staticmethod
    def centre(theta: np.ndarray) -> np.ndarray:
        """The model's mean statistic: in (-1, 1), finite for any theta."""
        with np.errstate(all="ignore"):
            return np.tanh(np.nan_to_num(theta).mean(axis=1) / 10.0)

    @classmethod
    def undefined(cls, theta: np.ndarray) -> np.ndarray:
        """Where the 'nan_some' and 'raise_some' models fail: about theta > 5.5."""
        return cls.centre(theta) > 0.5


def _reshape(stats: np.ndarray, out: str) -> Any:
    n, k = stats.shape
    return {
        "float64": lambda: stats,
        "float32": lambda: stats.astype(np.float32),
        "int": lambda: np.round(10 * stats).astype(np.int64),
        "list": lambda: stats.tolist(),
        "object_float": lambda: stats.astype(object),
        "object_str": lambda: np.full((n, k), "n/a", dtype=object),
        "wrong_k": lambda: np.hstack([stats, stats]),
        "wrong_n": lambda: np.vstack([stats, stats[:1]]),
        "flat": lambda: stats.ravel(),
        "three_d": lambda: stats[:, :, None],
        "scalar": lambda: 1.0,
        "none": lambda: None,
    }[out]()


# name -> (the object for k statistics, what a message refusing it must name, or None if valid)
DISTANCES = {
    "euclidean": (lambda k: "euclidean", None),
    "manhattan": (lambda k: Manhattan(), None),
    "Euclidean": (lambda k: Euclidean(), None),
    "scaled": (lambda k: ScaledEuclidean(np.arange(1.0, k + 1)), None),
    "scaled_pilot": (lambda k: ScaledEuclidean(n_pilot=20), None),
    "callable": (lambda k: lambda s, o: np.abs(s - o).max(axis=1), None),
    "unknown_name": (lambda k: "chebyshev", "distance"),
    "class": (lambda k: Euclidean, "distance"),
    "scale_negative": (lambda k: ScaledEuclidean(-np.ones(k)), "scale"),
    "scale_too_long": (lambda k: ScaledEuclidean(np.ones(k + 1)), "scale"),
    "n_pilot_bool": (lambda k: ScaledEuclidean(n_pilot=True), "n_pilot"),
    "wrong_shape": (lambda k: lambda s, o: np.abs(s - o), "distance"),
}
KERNELS = {
    "gaussian": (lambda: "gaussian", None),
    "silverman": (lambda: "silverman", None),
    "scott": (lambda: "scott", None),
    "olcm": (lambda: "olcm", None),
    "local": (lambda: "local", None),
    "Gaussian(float32)": (lambda: GaussianKernel(np.float32(1.5)), None),
    "Local(0.5, 2)": (lambda: LocalKernel(0.5, 2), None),
    "OLCM()": (lambda: OLCMKernel(), None),
    "unknown_name": (lambda: "epanechnikov", "kernel"),
    "class": (lambda: GaussianKernel, "kernel"),
    "Gaussian(-1)": (lambda: GaussianKernel(-1.0), "scale"),
    "Gaussian(nan)": (lambda: GaussianKernel(math.nan), "scale"),
    "Gaussian('wide')": (lambda: GaussianKernel("wide"), "scale"),
    "Local(0)": (lambda: LocalKernel(0), "k_fraction"),
    "Local(scale=inf)": (lambda: LocalKernel(0.5, math.inf), "scale"),
    "Gaussian(inf)": (lambda: GaussianKernel(math.inf), "scale"),
}


# The oracle of the documented argument contracts (abcspark.validation's docstring).


MAX_COUNT, MAX_BATCH_SIZE = 10**15, 10**8


def is_count(value: Any, high: int = MAX_COUNT) -> bool:
    """An int in [1, high]: Python or NumPy integer, never a bool."""
    return (
        isinstance(value, numbers.Integral)
        and not isinstance(value, (bool, np.bool_))
        and 1 <= value <= high
    )


def is_real(value: Any, low: float, high: float, open_low: bool, open_high: bool) -> bool:
    """A real number in the interval (NaN never), NumPy scalars included, bools not."""
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        return False
    try:
        x = float(value)
    except OverflowError:  # an int beyond float64: an infinity, as abcspark reads it
        x = math.inf if value > 0 else -math.inf
    if math.isnan(x):
        return False
    return (low < x if open_low else low <= x) and (x < high if open_high else x <= high)


def is_seed(value: Any) -> bool:
    return (
        isinstance(value, numbers.Integral)
        and not isinstance(value, (bool, np.bool_))
        and value >= 0
    )


REAL_RANGES = {
    "epsilon": (0.0, math.inf, False, False),
    "quantile": (0.0, 1.0, True, False),
    "epsilon_quantile": (0.0, 1.0, True, True),
}
COUNTS = {"n_particles", "generations", "max_simulations", "n_samples", "n_simulations"}


def invalid_arguments(args: dict) -> set:
    """Names of the arguments whose values break their documented contract."""
    bad = set()
    for name, value in args.items():
        if name in COUNTS and not is_count(value):
            bad.add(name)
        elif name == "batch_size" and value is not None and not is_count(value, MAX_BATCH_SIZE):
            bad.add(name)
        elif name in REAL_RANGES and not is_real(value, *REAL_RANGES[name]):
            bad.add(name)
        elif name == "seed" and value is not None and not is_seed(value):
            bad.add(name)
    return bad


# One call of the public API, and the property it must hold.


@dataclass
class Case:
    """One call: ``algorithm(prior, simulate, distance, **init).run(observed, **run)``."""

    algorithm: str
    prior: list
    output: str = "float64"
    observed: list = field(default_factory=lambda: [0.1])
    distance: str = "euclidean"
    on_error: str = "raise"
    init: dict = field(default_factory=dict)
    run: dict = field(default_factory=dict)


REJECTION_MODES = {
    "until": ("epsilon", "n_samples"),
    "quantile": ("quantile", "n_simulations"),
    "budget": ("epsilon", "n_simulations"),
}
VALID = {
    "epsilon": st.one_of(st.floats(0.05, 3.0), st.just(math.inf)),
    "quantile": st.floats(0.01, 1.0),
    "epsilon_quantile": st.floats(0.05, 0.95),
    "n_samples": st.integers(1, 50),
    "n_particles": st.integers(2, 50),
    "generations": st.integers(1, 4),
    "n_simulations": st.integers(1, 2000),
    "max_simulations": st.integers(1, 5000),
    "batch_size": st.one_of(st.none(), st.integers(1, 500)),
    "seed": st.integers(0, 2**32),
}


@st.composite
def cases(draw: Any, algorithm: str) -> Case:
    """Half the calls are valid (NumPy numbers included); in the others anything may be odd."""
    messy = draw(st.booleans())
    p_odd = 0.15 if messy else 0.0
    k = draw(st.integers(1, 3))
    discrete = algorithm == "rejection" or draw(chance(p_odd))  # PMC refuses discrete priors
    pmc_kinds = tuple(KINDS) if discrete else CONTINUOUS
    case = Case(
        algorithm=algorithm,
        prior=draw(prior_spec(pmc_kinds, p_odd)),
        output=draw(one_of_table(SIMULATOR_OUTPUTS, p_odd, lambda must_may: must_may[0])),
        observed=draw(st.lists(st.floats(-1, 1), min_size=k, max_size=k)),
        distance=draw(one_of_table(DISTANCES, p_odd, lambda entry: entry[1])),
        on_error=draw(st.sampled_from(["raise", "skip"])),
    )
    case.init["batch_size"] = draw(odd_or(VALID["batch_size"], p_odd))
    case.run["seed"] = draw(odd_or(VALID["seed"], p_odd / 3))
    if algorithm == "rejection":
        names = set(REJECTION_MODES[draw(st.sampled_from(sorted(REJECTION_MODES)))])
        if draw(chance(p_odd / 3)):  # a combination that is no mode
            names ^= {draw(st.sampled_from(["epsilon", "n_samples", "quantile", "n_simulations"]))}
        for name in sorted(names) + ["max_simulations"]:
            case.run[name] = draw(odd_or(VALID[name], p_odd))
    else:
        for name in ("n_particles", "generations", "epsilon_quantile", "max_simulations"):
            case.init[name] = draw(odd_or(VALID[name], p_odd))
        case.init["kernel"] = draw(one_of_table(KERNELS, p_odd, lambda entry: entry[1]))
    return case


def one_of_table(table: dict, p_odd: float, odd: Any) -> st.SearchStrategy:
    """A key of ``table``: one whose entry is ``odd`` with probability ``p_odd``."""
    good = sorted(key for key, entry in table.items() if not odd(entry))
    bad = sorted(key for key, entry in table.items() if odd(entry))
    return chance(p_odd).flatmap(lambda odd: st.sampled_from(bad if odd else good))


def suspects(case: Case) -> tuple:
    """What may go wrong: (words a message may name, must the call fail, may it fail).

    A call may fail for a wrong argument, which it must then name, or for a simulator whose
    output is wrong ('simulate', or 'the simulator' of a batch's error). Failures any call may
    have are in ``documented``.
    """
    bad = invalid_arguments({**case.init, **case.run})
    # PMC's generations and max_simulations are optional: None is their documented default.
    bad -= {name for name in ("generations", "max_simulations") if case.init.get(name, 0) is None}
    for named, table in ((case.distance, DISTANCES), (case.init.get("kernel"), KERNELS)):
        if named is not None and table[named][1] is not None:
            bad.add(table[named][1])
    # With on_error='skip' too: the dry run refuses a simulator that fails on all its draws.
    must_fail, may_fail = SIMULATOR_OUTPUTS[case.output]
    words = set(bad) | ({"simulate", "simulator"} if may_fail else set())
    if case.algorithm == "rejection":
        if not _one_mode(case.run):
            bad.add("mode")
            words |= {"epsilon", "n_samples", "n_simulations", "quantile"}
        size, n_sim = case.init.get("batch_size"), case.run.get("n_simulations")
        if is_count(size) and is_count(n_sim) and n_sim < size:
            bad.add("n_simulations")
            words |= {"n_simulations", "batch_size"}
    elif is_count(case.init["n_particles"]) and case.init["n_particles"] < 2:
        bad.add("n_particles")  # a population of one has no spread to propose from
    words |= bad
    must_fail = must_fail or bool(bad)
    return words, must_fail, must_fail or may_fail


def _one_mode(run: dict) -> bool:
    given_ = {name for name in ("epsilon", "n_samples", "n_simulations", "quantile") if name in run}
    return any(given_ == set(names) for names in REJECTION_MODES.values())


def simulation_limit(case: Case) -> tuple:
    """(simulator calls the run may make, whether the request may need more than the test's cap).

    The budget binds the simulator calls of batches; the driver's dry run (twice 4 draws) and
    pilot (n_pilot) come on top, and the run may end one batch past the budget.
    """
    args = {**case.init, **case.run}
    size = args.get("batch_size")
    slack = 8 + 20 + 2 * (int(size) if is_count(size) and size < HARD_CAP else 1000)
    budget = args.get("max_simulations")
    if case.algorithm == "rejection" and "n_simulations" in case.run:
        budget = case.run["n_simulations"]  # max_simulations binds only epsilon + n_samples
    if is_count(budget) and int(budget) + slack <= HARD_CAP:
        return int(budget) + slack, False
    return HARD_CAP, True


def event(what: str) -> None:
    """Count an outcome in Hypothesis' statistics (when replayed outside Hypothesis, skip it)."""
    if currently_in_test_context():
        hypothesis_event(what)


class PropertyFailure(AssertionError):
    """The property does not hold; ``__cause__`` is the error abcspark raised, if any."""


def check(case: Case) -> None:
    """The property: a sound posterior, or a ValueError/TypeError that names its cause.

    NumPy's RuntimeWarnings are errors here, as in the project's pytest settings: a library
    that divides by zero on the way to its result is not sound.
    """
    words, must_fail, may_fail = suspects(case)
    try:
        prior = build_prior(case.prior)
    except (ValueError, TypeError) as exc:
        event("the prior is refused")
        assert_names(exc, prior_words(case.prior))
        return
    limit, open_ended = simulation_limit(case)
    simulate = Simulator(case.output, len(case.observed), limit)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            posterior = run(case, prior, simulate)
        except Overspent:
            event("cut short by the test")
            if not open_ended:
                raise PropertyFailure(f"ran {simulate.calls} simulations, past {limit}") from None
            return
        except (ValueError, TypeError) as exc:
            cause = documented(exc)
            event(f"{type(exc).__name__}, {cause or 'for its input'}")
            assert_names(exc, {cause} if cause else words)
            if not (may_fail or cause):
                raise PropertyFailure(f"a valid call failed: {exc!r}") from exc
            return
        event("a posterior")
        if must_fail:
            raise PropertyFailure(f"returned a posterior although {sorted(words)} are wrong")
        assert_sound(posterior, prior, case)
        assert_draws(posterior, prior, ("resample", "kde"))


def documented(exc: Exception) -> Optional[str]:
    """If ``exc`` is a failure any call may have, what its message must name."""
    text = str(exc)
    if isinstance(exc, BudgetExhausted):
        return "max_simulations"
    if "accepted none" in text:  # RejectionABC with epsilon and n_simulations
        return "epsilon"
    if "inside the prior's support" in text:  # PMC: a kernel that proposes outside it
        return "kernel"
    return None


def run(case: Case, prior: Prior, simulate: Simulator) -> Posterior:
    """The call of ``case``; the distance and kernel are made here, so that they may refuse."""
    distance = DISTANCES[case.distance][0](len(case.observed))
    options = dict(engine="numpy", on_error=case.on_error, **case.init)
    if "kernel" in options:
        options["kernel"] = KERNELS[options["kernel"]][0]()
    if case.algorithm == "rejection":
        return RejectionABC(prior, simulate, distance, **options).run(case.observed, **case.run)
    abc = PMCABC(prior, simulate, distance, progress=False, **options)
    return abc.run(case.observed, **case.run)


def assert_names(exc: Exception, words: set) -> None:
    """The error's message names one of ``words``."""
    if not any(w in str(exc) for w in words):
        raise PropertyFailure(f"the message names none of {sorted(words)}") from exc


def assert_sound(posterior: Posterior, prior: Prior, case: Case) -> None:
    """Particles in the support, weights finite summing to 1, distances finite (and <= epsilon)."""
    theta = posterior.samples.to_numpy()
    epsilon = case.run.get("epsilon")
    wanted = case.run.get("n_samples", case.init.get("n_particles"))
    if wanted is not None and case.algorithm == "pmc":  # its last generation keeps all the
        # rest buys, and the one before's particles within its epsilon join them
        wanted = int(wanted) + int(posterior.history["n_simulations"].iloc[-1])
    failed = [
        what
        for what, holds in (
            ("particles", len(theta) >= 1 and list(posterior.samples.columns) == prior.names),
            ("support", prior.in_support(theta).all()),
            ("weights", np.isfinite(posterior.weights).all() and (posterior.weights >= 0).all()),
            ("sum", abs(posterior.weights.sum() - 1.0) <= 1e-12),
            ("distances", np.isfinite(posterior.distances).all()),
            ("epsilon", epsilon is None or all(d <= epsilon for d in posterior.distances.tolist())),
            ("size", wanted is None or len(theta) <= int(wanted)),
        )
        if not holds
    ]
    if failed:
        raise PropertyFailure(
            f"unsound posterior ({', '.join(failed)}): samples {theta.tolist()}, "
            f"weights {posterior.weights.tolist()}, distances {posterior.distances.tolist()}"
        )


def assert_draws(posterior: Posterior, prior: Prior, methods: tuple) -> None:
    """Draws from the posterior lie in the prior's support; its summary is finite."""
    for method in methods:
        try:
            draws = posterior.sample(5, seed=0, method=method).to_numpy()
        except ValueError as exc:  # a KDE that cannot put mass in the support says so
            assert_names(exc, {"method"})
            continue
        if not prior.in_support(draws).all():
            raise PropertyFailure(f"{method} draws outside the support: {draws.tolist()}")
    summary = posterior.summary().to_numpy()
    if not np.isfinite(summary).all():
        raise PropertyFailure(f"summary not finite: {summary.tolist()}")


# Priors on their own: constructors refuse clearly, samples lie in the support.


@settings(PROPERTY, max_examples=800)
@given(spec=prior_spec(), n=st.integers(0, 20), seed=st.integers(0, 2**32))
def test_priors_sample_inside_their_support(spec, n, seed):
    check_prior(spec, n, seed)


def check_prior(spec: list, n: int, seed: int) -> None:
    """A prior is refused naming its fault, or its draws lie in its support with a density."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            prior = build_prior(spec)
        except (ValueError, TypeError) as exc:
            assert_names(exc, prior_words(spec))
            return
        theta = prior.sample(n, np.random.default_rng(seed))
        log_pdf = prior.log_pdf(theta)
    assert theta.shape == (n, prior.dim) and theta.dtype == np.float64
    if not prior.in_support(theta).all():
        raise PropertyFailure(f"draws outside the support: {theta.ravel().tolist()}")
    assert log_pdf.shape == (n,) and not np.isnan(log_pdf).any(), theta
    assert len(prior.bounds()) == prior.dim


@settings(PROPERTY, max_examples=800)
@given(case=cases("rejection"))
def test_rejection_abc_returns_a_sound_posterior_or_a_clear_error(case):
    check(case)


@settings(PROPERTY, max_examples=600)
@given(case=cases("pmc"))
def test_pmc_abc_returns_a_sound_posterior_or_a_clear_error(case):
    check(case)


# Bugs the properties found: each smallest example, replayed.


def check_posterior(prior: Prior, samples: list, weights: list) -> None:
    """The posterior of ``samples`` (one row each) and ``weights``: draws and summary sound."""
    frame = pd.DataFrame(samples, columns=prior.names)
    metadata = {"bounds": prior.bounds().tolist(), "discrete": prior.discrete_names}  # as a run
    posterior = Posterior(frame, np.asarray(weights), np.zeros(len(samples)), metadata=metadata)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_draws(posterior, prior, methods=("resample", "kde"))


def found(bug: str, what: str, replay: Any) -> Any:
    """A regression test: ``replay()`` once failed as ``what`` says, and must pass now."""
    return pytest.param(replay, what, id=bug)


def rejection(prior: list, output: str = "float64", **run_args: Any) -> Case:
    """A RejectionABC call to replay: seed 0 and a budget of 1,000 unless given."""
    init = {"batch_size": run_args.pop("batch_size", None)}
    run_args = {"seed": 0, "max_simulations": 1000, **run_args}
    return Case("rejection", prior, output, init=init, run=run_args)


def pmc(prior: list, **init: Any) -> Case:
    """A PMCABC call to replay: seed 0 and a budget of 1,000 unless given."""
    init = {"batch_size": None, "epsilon_quantile": 0.5, "max_simulations": 1000, **init}
    return Case("pmc", prior, init=init, run={"seed": 0})


def check_refused(factory: Any, *args: Any, words: set) -> None:
    """``factory(*args)`` raises ValueError or TypeError naming one of ``words``."""
    try:
        factory(*args)
    except (ValueError, TypeError) as exc:
        assert_names(exc, words)
        return
    raise PropertyFailure(f"{factory.__name__}{args} is accepted")


UNIFORM = [("p0", "Uniform", [0.0, 1.0])]
THREE_BETAS = [(f"p{i}", "Beta", [1.0, 1.0]) for i in range(3)]
HUGE = 2**2000
FOUND_BUGS = [
    found(
        "B1",
        "distributions.real_parameter: math.isfinite(int) overflows for a huge int",
        partial(check_prior, [("p0", "Uniform", [0.0, HUGE])], 5, 0),
    ),
    found(
        "B2",
        "Uniform accepts high - low = inf; sample() fails in rng.uniform",
        partial(check_prior, [("p0", "Uniform", [-1e308, 1e308])], 5, 0),
    ),
    found(
        "B3-lognormal",
        "LogNormal draws overflow to inf (or underflow to 0), outside its own support",
        partial(check_prior, [("p0", "LogNormal", [800.0, 1.0])], 5, 0),
    ),
    found(
        "B3-normal",
        "Normal draws overflow to +-inf for sd > ~1e307, outside its own support",
        partial(check_prior, [("p0", "Normal", [0.0, 1e308])], 20, 0),
    ),
    found(
        "B3-gamma",
        "Gamma draws overflow to inf for scale > ~1e307, outside its own support",
        partial(check_prior, [("p0", "Gamma", [1.0, 1e308])], 20, 0),
    ),
    found(
        "B4-beta",
        "Beta.__init__: math.lgamma overflows for a or b > ~2.5e305",
        partial(check_prior, [("p0", "Beta", [1e308, 1.0])], 5, 0),
    ),
    found(
        "B4-gamma",
        "Gamma._log_pdf: math.lgamma overflows for shape > ~2.5e305",
        partial(check_prior, [("p0", "Gamma", [1e308, 1.0])], 5, 0),
    ),
    found(
        "B5",
        "Poisson accepts rate > ~9.2e18; sample() fails in rng.poisson",
        partial(check_prior, [("p0", "Poisson", [1e300])], 5, 0),
    ),
    found(
        "B6",
        "MultivariateNormal: (cov + cov.T) / 2 overflows to inf, then draws are +-inf",
        partial(
            check_prior,
            [("p0", "MultivariateNormal", [[0.0, 0.0], [[1e308, 0], [0, 1e308]]])],
            5,
            0,
        ),
    ),
    found(
        "B7",
        "batch_size has no upper bound: a batch of 10**18 proposals is allocated",
        partial(check, rejection(UNIFORM, batch_size=10**18, epsilon=1.0, n_samples=5)),
    ),
    found(
        "B8",
        "validation.real: float(huge int) overflows (epsilon, quantile, epsilon_quantile)",
        partial(check, rejection(UNIFORM, epsilon=HUGE, n_samples=5)),
    ),
    found(
        "B9-rejection",
        "sampling._round_size: needed / rate overflows for a huge n_samples",
        partial(check, rejection(UNIFORM, epsilon=1.0, n_samples=HUGE)),
    ),
    found(
        "B9-pmc",
        "sampling._round_size: needed / rate overflows for a huge n_particles",
        partial(check, pmc(UNIFORM, n_particles=HUGE, generations=2)),
    ),
    found(
        "B9-int64",
        "sampling._hopeless: n_accept - cum_acc overflows int64 for counts >= 2**63",
        partial(check, rejection(UNIFORM, epsilon=1.0, n_samples=2**63, max_simulations=5000)),
    ),
    found(
        "B9-n_simulations",
        "RejectionABC.run: n_simulations / batch_size overflows for a huge n_simulations",
        partial(check, rejection(UNIFORM, quantile=0.5, n_simulations=HUGE)),
    ),
    found(
        "B10",
        "the dry run lets the simulator's own exception escape, even with on_error='skip'",
        partial(
            check,
            replace(
                rejection([("p0", "Uniform", [6.0, 7.0])], "raise_some", epsilon=1.0, n_samples=5),
                on_error="skip",
            ),
        ),
    ),
    found(
        "B11",
        "OLCMKernel.fit: 0 / 0 when the particles within epsilon all have weight 0",
        partial(
            check,
            pmc(
                THREE_BETAS,
                n_particles=3,
                generations=3,
                epsilon_quantile=0.25,
                max_simulations=40,
                kernel="olcm",
            ),
        ),
    ),
    found(
        "B12",
        "GaussianMixture.log_density takes log(0) of a particle's zero weight",
        partial(
            check,
            pmc(
                THREE_BETAS,
                n_particles=2,
                generations=3,
                epsilon_quantile=0.25,
                max_simulations=100,
                kernel="olcm",
            ),
        ),
    ),
    found(
        "B13",
        "Posterior.sample(method='kde') draws non-integers for discrete parameters",
        partial(check_posterior, Prior(k=Poisson(3.0)), [[1.0], [2.0], [4.0]], [1, 1, 1]),
    ),
    found(
        "B14",
        "weighted.covariance(unbiased=True) divides by 1 - sum(w**2) = 0 (one weight 1)",
        partial(check_posterior, Prior(mu=Uniform(0, 1)), [[0.2], [0.7]], [1.0, 0.0]),
    ),
    found(
        "B15",
        "GaussianKernel and LocalKernel accept scale=inf (validation.real closes [0, inf])",
        partial(check_refused, GaussianKernel, math.inf, words={"scale"}),
    ),
    found(
        "B16",
        "weighted.covariance squared deviations > ~1e154 to inf: now such samples are refused",
        partial(
            check_refused,
            Posterior,
            pd.DataFrame({"mu": [-1e200, 1e200]}),
            np.ones(2),
            np.zeros(2),
            words={"samples"},
        ),
    ),
    found(
        "B17-smallest",
        "the smallest sigma a LogNormal accepts has a finite density at its draws",
        partial(check_prior, [("p0", "LogNormal", [0.25, 1e-100])], 5, 0),
    ),
    found(
        "B17",
        "_normal_log_pdf squares z > ~1e154: LogNormal(sigma < 1e-170) has no density at its draws",
        partial(check_prior, [("p0", "LogNormal", [0.25, 1e-300])], 5, 0),
    ),
    found(
        "B18",
        "the property's own bound: a last generation keeps all 22 particles its one batch of "
        "342 bought for n_particles=4 (the budget's rest, not 2 n_particles)",
        partial(
            check,
            Case(
                "pmc",
                [(f"p{i}", "Beta", [1.0, 1.0]) for i in range(4)],
                "float32",
                observed=[0.0],
                distance="Euclidean",
                init={
                    "batch_size": 342,
                    "n_particles": 4,
                    "generations": 2,
                    "epsilon_quantile": 0.5,
                    "max_simulations": 352,
                    "kernel": "Gaussian(float32)",
                },
                run={"seed": 0},
            ),
        ),
    ),
    found(
        "B19",
        "kernels.log_sum_exp: a recycled particle that no component of the new OLCM kernel "
        "reaches (every term -inf) gave -inf - -inf = nan (CI, 2026-12-03)",
        partial(
            check,
            Case(
                "pmc",
                [
                    ("p0", "Beta", [1.0, 1.0]),
                    ("p1", "MultivariateNormal", [[0.0, 0.0], [[1e11, 0.0], [0.0, 1e11]]]),
                ],
                "float32",
                observed=[0.0, 0.0],
                distance="Euclidean",
                init={
                    "batch_size": None,
                    "n_particles": 4,
                    "generations": 3,
                    "epsilon_quantile": 0.25,
                    "max_simulations": 200,
                    "kernel": "OLCM()",
                },
                run={"seed": 0},
            ),
        ),
    ),
]


@pytest.mark.parametrize(("replay", "what"), FOUND_BUGS)
def test_found_bug(replay, what):
    replay()  # raises (PropertyFailure, an exception or a RuntimeWarning) if the bug is back
