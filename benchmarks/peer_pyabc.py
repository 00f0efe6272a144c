"""pyABC's ABC-SMC with its multicore sampler, run under pyABC's own python (setup_pyabc.sh).

The height model draws 67 Normal(mu, sigma) heights and returns their mean and sd (ddof=1);
the distance is the Euclidean (p = 2) norm on those two summaries, as in abcspark; the epsilon
schedule is given (``ListEpsilon``), so pyABC reaches the same final epsilon.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from typing import List, Optional

import numpy as np
from burn import burn


def _abc(model, n_particles: int, epsilons: List[float], n_procs: int):
    import pyabc

    prior = pyabc.Distribution(mu=pyabc.RV("uniform", 150, 50), sigma=pyabc.RV("uniform", 5, 20))
    return pyabc.ABCSMC(
        model,
        prior,
        pyabc.PNormDistance(p=2),
        population_size=n_particles,
        sampler=pyabc.sampler.MulticoreEvalParallelSampler(n_procs=n_procs),
        eps=pyabc.epsilon.ListEpsilon(epsilons),
    )


def _run(abc, observed: dict, generations: int) -> tuple:
    import logging

    logging.getLogger("ABC").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        abc.new(f"sqlite:///{folder}/pyabc.db", observed)
        history = abc.run(max_nr_populations=generations)
        seconds = time.perf_counter() - started
        frame, weights = history.get_distribution(m=0, t=history.max_t)
        return seconds, history.total_nr_simulations, frame, np.asarray(weights)


class _Height:
    def __init__(self, n_draws: int, cost: float = 0.0):
        self.n_draws, self.cost = n_draws, cost

    def __call__(self, p: dict) -> dict:
        if self.cost:
            burn(self.cost)
        # pyABC seeds the global state of each worker process; its models draw from it.
        draws = np.random.normal(p["mu"], p["sigma"], self.n_draws)  # noqa: NPY002
        return {"mean": draws.mean(), "sd": draws.std(ddof=1)}


def pmc(
    heights: List[float],
    epsilons: List[Optional[float]],
    n_particles: int,
    seed: int,
    launched: Optional[float] = None,
) -> dict:
    """pyABC on the height problem with the given epsilon schedule; 2 processes.

    With ``launched`` (the ``time.time()`` at which this process was launched), also the
    seconds from process start to the posterior (``to_posterior``).
    """
    np.random.seed(seed)  # noqa: NPY002 (pyABC's workers use the global state)
    data = np.asarray(heights)
    observed = {"mean": data.mean(), "sd": data.std(ddof=1)}
    schedule = [np.inf if e is None else e for e in epsilons]
    abc = _abc(_Height(len(data)), n_particles, schedule, 2)
    seconds, n_simulations, frame, weights = _run(abc, observed, len(schedule))
    to_posterior = None if launched is None else time.time() - launched
    weights = weights / weights.sum()
    moments = {}
    for name in ("mu", "sigma"):
        values = frame[name].to_numpy()
        mean = float(weights @ values)
        moments[f"{name}_mean"] = mean
        moments[f"{name}_sd"] = float(np.sqrt(weights @ (values - mean) ** 2))
    return {
        "run_seconds": seconds,
        "to_posterior": to_posterior,
        "n_simulations": int(n_simulations),
        "final_epsilon": float(schedule[-1]),
        "ess": float(1.0 / (weights @ weights)),
        "python_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load": os.getloadavg()[0],
        **moments,
    }


def expensive(n_simulations: int, cost: float, seed: int) -> dict:
    """One generation (epsilon inf) of ``n_simulations`` costly simulations on 2 processes."""
    np.random.seed(seed)  # noqa: NPY002 (pyABC's workers use the global state)
    abc = _abc(_Height(67, cost), n_simulations, [np.inf], 2)
    seconds, n_done, _, _ = _run(abc, {"mean": 170.0, "sd": 10.0}, 1)
    return {"run_seconds": seconds, "n_simulations": int(n_done), "load": os.getloadavg()[0]}
