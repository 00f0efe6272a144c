"""Model choice on Poisson against geometric counts: the model, its exact answer, and pyABC's
multi-model ABC-SMC at its defaults, run under pyABC's own python (through ``case.py``).

Five counts; the statistics are their sum and the sum of log x!, sufficient for both models
together, so the exact posterior model probability follows from the two marginal likelihoods
(Poisson with rate ~ Gamma(2, scale 1), geometric with p ~ Beta(1, 1), equal prior odds). This
module imports NumPy only, so abcspark's side (``model_choice.py``) shares it.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time

import numpy as np

DATASETS = {"a": [0, 1, 1, 2, 4], "b": [2, 3, 1, 2, 2], "c": [0, 0, 1, 0, 6]}
"""Observed counts: P(Poisson) 0.69, 0.92 and 0.06 (``exact_poisson``)."""
N_COUNTS = 5


def log_factorial(x: np.ndarray) -> np.ndarray:
    return np.array([sum(math.lgamma(v + 1.0) for v in row) for row in np.atleast_2d(x)])


def statistics(x: np.ndarray) -> np.ndarray:
    """``(n, 5)`` counts -> ``(n, 2)``: their sum and their sum of log x!."""
    return np.column_stack([x.sum(axis=1), log_factorial(x)])


def poisson(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return statistics(rng.poisson(theta[:, :1], size=(len(theta), N_COUNTS)))


def geometric(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return statistics(rng.geometric(theta[:, :1], size=(len(theta), N_COUNTS)) - 1)


def exact_poisson(dataset: str) -> float:
    """P(Poisson | counts) with equal prior odds, from the two marginal likelihoods."""
    data = np.asarray(DATASETS[dataset])
    s, n = data.sum(), len(data)
    log_poisson = math.lgamma(2 + s) - (2 + s) * math.log(n + 1) - log_factorial(data)[0]
    log_geometric = math.lgamma(1 + n) + math.lgamma(1 + s) - math.lgamma(2 + n + s)
    return 1 / (1 + math.exp(log_geometric - log_poisson))


class PerRow:
    """pyABC's model: a parameter dict in, a dict of statistics out, with a generator per
    worker process (pyABC forks them) keyed by the run's seed and the process id."""

    def __init__(self, simulate, name: str, seed: int):
        self.simulate, self.name, self.seed = simulate, name, seed
        self._pid, self._rng = None, None

    def __call__(self, parameters: dict) -> dict:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._rng = np.random.default_rng([self.seed, self._pid])
        stats = self.simulate(np.array([[parameters[self.name]]]), self._rng)[0]
        return {"sum": float(stats[0]), "log_factorials": float(stats[1])}


def smc(dataset: str, budget: int, n_particles: int, seed: int) -> dict:
    """pyABC's multi-model ``ABCSMC`` at its defaults, ``max_total_nr_simulations=budget``."""
    import pyabc

    logging.getLogger("ABC").setLevel(logging.WARNING)
    logging.getLogger("Sampler").setLevel(logging.WARNING)
    np.random.seed(seed)  # noqa: NPY002 (pyABC's own proposals use the global state)
    priors = [
        pyabc.Distribution(rate=pyabc.RV("gamma", 2.0, 0.0, 1.0)),
        pyabc.Distribution(p=pyabc.RV("uniform", 0.0, 1.0)),
    ]
    models = [PerRow(poisson, "rate", seed), PerRow(geometric, "p", seed + 10**6)]
    abc = pyabc.ABCSMC(
        models,
        priors,
        pyabc.PNormDistance(p=2),
        population_size=n_particles,
        sampler=pyabc.sampler.MulticoreEvalParallelSampler(n_procs=2),
    )
    observed = dict(zip(["sum", "log_factorials"], statistics(np.array([DATASETS[dataset]]))[0]))
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        abc.new(f"sqlite:///{folder}/pyabc.db", {k: float(v) for k, v in observed.items()})
        history = abc.run(max_total_nr_simulations=budget)
        seconds = time.perf_counter() - started
        probabilities = history.get_model_probabilities(history.max_t)["p"]  # indexed by m
        return {
            "seconds": seconds,
            "n_simulations": int(history.total_nr_simulations),
            "generations": int(history.max_t) + 1,
            "p_poisson": float(probabilities.get(0, 0.0)),  # a model that died has no row
        }
