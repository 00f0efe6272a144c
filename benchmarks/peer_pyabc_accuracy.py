"""pyABC 0.13's ABC-SMC at its defaults on an accuracy model, run under pyABC's own python.

Run through ``case.py`` (``peer_pyabc_accuracy.smc``) with the python that
``setup_pyabc.sh`` prints; it imports ``accuracy_models`` (NumPy and SciPy only), so pyABC
simulates the same statistics from the same priors as abcspark.

Defaults kept: ``MedianEpsilon`` (its first epsilon from a calibration sample of the prior),
``MultivariateNormalTransition`` (Silverman's bandwidth), ``PNormDistance(p=2)`` (the
Euclidean distance, as abcspark's), ``MulticoreEvalParallelSampler(n_procs=2)``. The budget is
``max_total_nr_simulations``, checked between generations, so pyABC overshoots it; the
simulations it actually ran are ``History.total_nr_simulations`` (calibration included).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from typing import Any

import numpy as np
from accuracy_models import MODELS, Model


class PerRow:
    """pyABC's model: one parameter dict in, a dict of statistics out.

    It calls the model's vectorized simulator on one row with its own
    ``numpy.random.Generator``. pyABC forks its workers, so a generator made before the fork
    would give both workers the same stream: each process makes its own on first use, keyed by
    the run's seed and its process id.
    """

    def __init__(self, model: Model, seed: int):
        self.model, self.seed = model, seed
        self._pid, self._rng = None, None

    def __call__(self, parameters: dict) -> dict:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._rng = np.random.default_rng([self.seed, self._pid])
        theta = np.array([[parameters[name] for name in self.model.names]])
        stats = self.model.simulate(theta, self._rng)[0]
        return {f"s{j}": float(v) for j, v in enumerate(stats)}


def _prior(model: Model):
    import pyabc

    rvs = {}
    for name, family, args in model.prior:
        if family == "uniform":
            rvs[name] = pyabc.RV("uniform", args[0], args[1] - args[0])
        elif family == "normal":
            rvs[name] = pyabc.RV("norm", args[0], args[1])
        else:  # lognormal (mu, sigma): scipy's lognorm(s=sigma, scale=exp(mu))
            rvs[name] = pyabc.RV("lognorm", args[1], 0.0, float(np.exp(args[0])))
    return pyabc.Distribution(**rvs)


def smc(model: str, observation: int, budget: int, n_particles: int, seed: int) -> dict:
    """pyABC's defaults on ``model``'s observation, ``max_total_nr_simulations=budget``."""
    problem = MODELS[model]
    return abcsmc(problem, _prior(problem), observation, budget, n_particles, seed)


def abcsmc(
    problem: Any,
    prior: Any,
    observation: int,
    budget: int,
    n_particles: int,
    seed: int,
    transitions: Any = None,
) -> dict:
    """pyABC's ``ABCSMC`` at its defaults (``transitions=None`` is its own default) on
    ``problem``'s observation, 2 processes, ``max_total_nr_simulations=budget``."""
    import pyabc

    logging.getLogger("ABC").setLevel(logging.WARNING)
    logging.getLogger("Sampler").setLevel(logging.WARNING)
    np.random.seed(seed)  # noqa: NPY002 (pyABC's own proposals use the global state)
    observed = {f"s{j}": float(v) for j, v in enumerate(problem.observed(observation))}
    abc = pyabc.ABCSMC(
        PerRow(problem, seed),
        prior,
        pyabc.PNormDistance(p=2),
        population_size=n_particles,
        transitions=transitions,
        sampler=pyabc.sampler.MulticoreEvalParallelSampler(n_procs=2),
    )
    return run_population(abc, observed, budget, problem.names)


def run_population(abc, observed: dict, budget: int, names) -> dict:
    """Run ``abc`` on ``observed`` until ``max_total_nr_simulations=budget``; its time, its
    real simulation count and its last population's ``names`` columns and weights."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        abc.new(f"sqlite:///{folder}/pyabc.db", observed)
        history = abc.run(max_total_nr_simulations=budget)
        seconds = time.perf_counter() - started
        frame, weights = history.get_distribution(m=0, t=history.max_t)
        populations = history.get_all_populations()
        return {
            "seconds": seconds,
            "n_simulations": int(history.total_nr_simulations),
            "generations": int(history.max_t) + 1,
            "epsilon": float(populations["epsilon"].iloc[-1]),
            "particles": frame[list(names)].to_numpy().tolist(),
            "weights": np.asarray(weights).tolist(),
        }
