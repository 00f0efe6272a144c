"""APMC (adaptive population Monte Carlo ABC) on the sequential loop: a fixed cost per generation.

Each generation simulates the same number of new particles, every one of them (no rejection):
they run through :func:`~abcspark.sampling.sample_until` at epsilon ``inf``, so each simulation
comes back as a particle with its distance, and the driver pools them with the kept ones.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace
from typing import Any, Callable, Optional, Tuple, get_args

import numpy as np
import pandas as pd

from abcspark.algorithms.run import Run
from abcspark.algorithms.sequential import SequentialABC
from abcspark.budget import budget_message
from abcspark.discrete_kernels import DiscreteKernel, DiscreteRandomWalk, mixed_proposal
from abcspark.history import GenerationRecord
from abcspark.kernels import as_kernel
from abcspark.priors import Prior
from abcspark.problem import Problem, auto_batch_size
from abcspark.sampling import BudgetExhausted, Sample, sample_until
from abcspark.transforms import check_transform, fit_proposal, mapped_bounds
from abcspark.validation import real

log = logging.getLogger("abcspark")


class APMCABC(SequentialABC):
    """Adaptive population Monte Carlo ABC (Lenormand, Jabot and Deffuant 2013).

    Generation 0 simulates ``n_particles`` prior draws and keeps the ``n_alpha = floor(alpha
    n_particles)`` closest, with weight 1; its epsilon is the ``n_alpha``-th smallest distance
    (the alpha-quantile). Each later generation draws ``n_particles - n_alpha`` new particles
    from ``kernel`` fitted to the kept weighted particles (proposals outside the prior's support
    are redrawn, free), simulates every one, and weights it ``prior(theta) / sum_j w_j
    K(theta | theta_j)`` (``w_j`` the kept weights, normalised), on the same scale as the kept
    weights, which are never renormalised: the paper's importance weights. The kept and the new
    particles are pooled, epsilon becomes the ``n_alpha``-th smallest distance of the pool, and
    the pool's particles within it are kept (ties at it are all kept). ``p_acc``, the share of
    the new particles within the last epsilon, is the generation's ``acceptance_rate`` in the
    history (1 for generation 0); the run stops after a generation whose ``p_acc`` falls below
    ``p_acc_min`` (``stop_reason`` ``'p_acc_min'``). The posterior is the last kept pool.

    Parameters
    ----------
    prior, simulate, distance, vectorized, on_error, batch_timeout
        As for :class:`~abcspark.RejectionABC`; an adaptive distance is refused (the kept
        particles' distances would change units each generation).
    engine, parallelism, spark, keep_statistics
        As for :class:`~abcspark.RejectionABC`.
    batch_size : int, optional
        Proposals per batch; by default the new particles of a generation split into equal
        batches of about a tenth of them (between 10 and 1,000, at least a 100,000th and at
        most a twentieth of ``max_simulations``), so a generation wastes (almost) no
        simulation of its last batch. Every simulation of a batch counts: one of more
        proposals than a generation's new particles wastes the rest.
    n_particles : int, default 1000
        ``N``: the pool's size, and the prior draws of generation 0.
    alpha : float, default 0.5
        Share of the pool kept each generation, in (0, 1); ``floor(alpha n_particles)`` must
        be at least 2.
    p_acc_min : float, default 0.01
        Stop after a generation whose ``p_acc`` falls below it (the paper's 0.01), in [0, 1).
    generations : int, default 100
        Most generations to run (including generation 0).
    min_epsilon : float, default 0
        Stop after the generation that reaches it.
    max_simulations : int, optional
        The budget in simulator calls, at least ``n_particles``, exceeded by less than one
        batch: a generation that the budget left cannot buy whole simulates that many new
        particles, the last. Without it, a cap of 1e8.
    min_epsilon_difference : float, default 0
        Stop when epsilon falls by less than this from one generation to the next.
    max_walltime : float, optional
        Seconds; no generation starts after the run has taken this long.
    kernel : str or Kernel, default 'gaussian'
        As for :class:`~abcspark.PMCABC`; the default is the paper's, a Gaussian at twice the
        weighted covariance of the kept particles (Beaumont et al. 2009).
    transform : {'none', 'log', 'all'}, default 'none'
        As for :class:`~abcspark.PMCABC`, whose default is ``'log'``. With APMC's wider kernel
        the log scale did not come closer on gamma's skewed posterior (README, accuracy), so
        nothing is mapped by default.
    discrete_kernel : DiscreteRandomWalk or DiscreteJump, optional
        As for :class:`~abcspark.PMCABC`: integer steps for discrete parameters.
    progress : bool, optional
        Progress display per generation; default on in Jupyter and in a terminal.

    References
    ----------
    Lenormand, M., Jabot, F. and Deffuant, G. (2013). Adaptive approximate Bayesian
    computation for complex models. Computational Statistics 28(6), 2777-2796.

    Examples
    --------
    >>> from abcspark import APMCABC, Normal, Prior
    >>> def simulate(theta, rng):
    ...     return theta + rng.normal(0.0, 1.0, size=theta.shape)
    >>> apmc = APMCABC(Prior(mu=Normal(0, 2)), simulate, n_particles=200, engine="numpy",
    ...                progress=False)
    >>> post = apmc.run([1.0], seed=1)
    >>> post.metadata["stop_reason"], len(post.samples)
    ('p_acc_min', 100)
    """

    name = "APMCABC"

    def __init__(
        self,
        prior: Prior,
        simulate: Callable,
        distance: Any = "euclidean",
        *,
        n_particles: int = 1000,
        alpha: float = 0.5,
        p_acc_min: float = 0.01,
        generations: int = 100,
        min_epsilon: float = 0.0,
        max_simulations: Optional[int] = None,
        min_epsilon_difference: float = 0.0,
        max_walltime: Optional[float] = None,
        kernel: Any = "gaussian",
        transform: str = "none",
        discrete_kernel: Optional[DiscreteKernel] = None,
        progress: Optional[bool] = None,
        **problem: Any,
    ):
        self.alpha = real("alpha", alpha, 0, 1, open_low=True, open_high=True, example="0.5")
        self.p_acc_min = real("p_acc_min", p_acc_min, 0, 1, open_high=True, example="0.01")
        task = Problem(prior, simulate, "euclidean" if distance is None else distance, **problem)
        if task.adaptive:
            raise ValueError(
                f"distance must not be adaptive for APMCABC (got {task.distance!r}); the kept "
                "particles' distances would change units each generation: use ScaledEuclidean."
            )
        auto = task.batch_size is None
        super().__init__(
            task,
            n_particles=n_particles,
            generations=generations,
            min_epsilon=min_epsilon,
            max_simulations=max_simulations,
            min_acceptance_rate=self.p_acc_min,  # the loop's rule on the history's p_acc
            min_epsilon_difference=min_epsilon_difference,
            max_walltime=max_walltime,
            progress=progress,
        )
        self.n_alpha = math.floor(self.alpha * self.n_particles)
        self._check_sizes()
        if auto:
            self.problem.batch_size = _equal_batches(
                self.n_new, self.max_simulations, max_simulations
            )
        self.kernel = as_kernel(kernel)
        self.discrete = np.isin(prior.names, prior.discrete_names)
        self.discrete_kernel = discrete_kernel or DiscreteRandomWalk()
        if not isinstance(self.discrete_kernel, get_args(DiscreteKernel)):
            raise TypeError(
                f"discrete_kernel must be a DiscreteRandomWalk or a DiscreteJump (got "
                f"{discrete_kernel!r}); use e.g. DiscreteRandomWalk(scale=1.0)."
            )
        self.transform = check_transform(transform, self.discrete.any())

    @property
    def n_new(self) -> int:
        """New particles per generation after the first, ``n_particles - n_alpha``."""
        return self.n_particles - self.n_alpha

    def _check_sizes(self) -> None:
        if self.n_alpha < 2:
            raise ValueError(
                f"alpha * n_particles must be at least 2 (got floor({self.alpha} * "
                f"{self.n_particles}) = {self.n_alpha}); the kept particles are what the kernel "
                "spreads from: raise alpha or n_particles."
            )
        if self.max_simulations < self.n_particles:
            raise ValueError(
                f"max_simulations must be at least n_particles (got {self.max_simulations} < "
                f"{self.n_particles}); generation 0 simulates n_particles prior draws: raise "
                "max_simulations or lower n_particles."
            )

    def settings(self) -> dict:
        return {
            **super().settings(),
            "alpha": self.alpha,
            "p_acc_min": self.p_acc_min,
            "kernel": self.kernel.to_dict(),
            **({"transform": self.transform} if self._mapped() is not None else {}),
            **({"discrete_kernel": self.discrete_kernel.to_dict()} if self.discrete.any() else {}),
        }

    # The hooks, and the generation that uses them.

    def _plan(self, g: int, run: Run) -> Optional[Tuple[float, int]]:
        """(the last epsilon, new particles); the last generation buys what the budget left can."""
        if g == 0:
            return np.inf, self.n_particles
        left = self.max_simulations - run.n_used
        return (run.records[-1].epsilon, min(self.n_new, left)) if left > 0 else None

    def _proposal(self, g: int, population: Optional[pd.DataFrame], epsilon: float) -> Any:
        if g == 0:
            return self.problem.prior
        live = population[population["weight"].to_numpy() > 0]  # an underflowed weight is 0
        weights = live["weight"].to_numpy()
        fitted = (
            live[self.problem.prior.names].to_numpy(),
            weights / weights.sum(),
            live["distance"].to_numpy(),
            epsilon,
        )
        if self.discrete.any():
            return mixed_proposal(self.kernel, self.discrete_kernel, self.discrete, *fitted)
        return fit_proposal(self.kernel, self._mapped(), *fitted)

    def _mapped(self) -> Optional[np.ndarray]:
        return mapped_bounds(self.problem.prior.bounds(), self.transform)

    def _weights(self, g: int, theta: np.ndarray, proposal: Any) -> np.ndarray:
        """Unnormalised weights of the new particles: 1 from the prior, else prior / proposal."""
        if g == 0:
            return np.ones(len(theta))
        return np.exp(self.problem.prior.log_pdf(theta) - proposal.log_density(theta))

    def _generation(self, g: int, run: Run) -> Optional[str]:
        started = time.perf_counter()
        plan = self._plan(g, run)
        if plan is None:
            log.warning("stopping before generation %d: the budget is spent", g)
            return "unaffordable"
        last, n_new = plan
        proposal = self._proposal(g, run.population, last)
        sample = self._simulate(g, proposal, n_new, run)
        if g == 0 and sample.stop != "complete":  # every failure skipped costs one more
            raise BudgetExhausted(budget_message(sample, n_new, self.max_simulations))
        new = sample.particles.drop(columns=["batch", "index"])
        new["weight"] = self._weights(g, new[self.problem.prior.names].to_numpy(), proposal)
        distances = new["distance"].to_numpy()
        p_acc = float(np.mean(distances <= last)) if len(new) else 0.0
        pool = new if g == 0 else pd.concat([run.population, new], ignore_index=True)
        epsilon, run.population = self._keep(pool)
        weights, seconds = run.population["weight"].to_numpy(), time.perf_counter() - started
        reused = len(run.population) - int(np.count_nonzero(distances <= epsilon))
        record = GenerationRecord.of(g, epsilon, sample, weights / weights.sum(), seconds, reused)
        run.records.append(replace(record, acceptance_rate=p_acc))
        log.info("%s %s", self.name, run.records[-1].describe())
        short = (g > 0 and n_new < self.n_new) or sample.stop != "complete"
        return "max_simulations" if short else None

    def _simulate(self, g: int, proposal: Any, n: int, run: Run) -> Sample:
        """Simulate ``n`` particles from ``proposal``, all kept with their distances."""
        task = self.problem.task(run.seed, g, proposal, np.inf, run.observed, run.distance)
        last = run.records[-1] if run.records else None
        return sample_until(
            run.engine,
            task,
            n,
            self.max_simulations - run.n_used,
            last.n_simulations / last.n_proposals if last else 1.0,  # the share in support
            f"abcspark {self.name} generation {g}",
            max_failed_share=self.problem.max_failed_share,
            give_up_below=0,  # every simulation is a particle: the budget alone ends it
        )

    def _keep(self, pool: pd.DataFrame) -> Tuple[float, pd.DataFrame]:
        """The pool's ``n_alpha``-th smallest distance, and its particles within it."""
        distances = pool["distance"].to_numpy()
        epsilon = float(np.partition(distances, self.n_alpha - 1)[self.n_alpha - 1])
        return epsilon, pool[distances <= epsilon].reset_index(drop=True)

    def _stop_reason(self, run: Run) -> Optional[str]:
        reason = super()._stop_reason(run)
        return "p_acc_min" if reason == "min_acceptance_rate" else reason


def _equal_batches(n: int, cap: float, budget: Optional[float]) -> int:
    """A batch size that splits ``n`` into equal batches of about ``auto_batch_size``."""
    batches = math.ceil(n / auto_batch_size(n, cap, budget))
    return math.ceil(n / batches)
