"""PMC-ABC (population Monte Carlo ABC) on the sequential loop: its epsilon, kernel and weights."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any, Callable, Optional, Sequence, Tuple, get_args

import numpy as np
import pandas as pd

from abcspark.algorithms.run import Run
from abcspark.algorithms.sequential import SequentialABC
from abcspark.budget import closest, kept_from, next_plan
from abcspark.discrete_kernels import DiscreteKernel, DiscreteRandomWalk, mixed_proposal
from abcspark.kernels import as_kernel, importance_weights
from abcspark.priors import Prior
from abcspark.problem import Problem
from abcspark.recycling import check_recycle, marked, recycled, reused
from abcspark.sampling import Sample
from abcspark.tolerance import tolerance_error
from abcspark.transforms import check_transform, fit_proposal, mapped_bounds
from abcspark.validation import epsilon_rule, real
from abcspark.weighted import ess, quantile

DEFAULT_GENERATIONS = 5  # without max_simulations; with it, until the budget is spent
BUDGET_PRIOR_DRAWS, BUDGET_EPSILON_QUANTILE = 4.0, 0.3  # closest per simulation (README)


class PMCABC(SequentialABC):
    """Population Monte Carlo ABC (Beaumont, Cornuet, Marin and Robert 2009).

    Generation 0 accepts ``n_particles`` prior draws (with ``max_simulations``, the closest
    ``n_particles`` of four times as many). Each later generation lowers epsilon to
    a quantile of the last generation's distances (or follows ``epsilons``), proposes from the
    weighted last population perturbed by a Gaussian kernel, drops proposals outside the prior's
    support before simulating, and weights the accepted particles by
    ``prior(theta) / sum_j w_j K(theta | theta_j)``. By default (``recycle``) the last
    generation's own particles within the new epsilon join them and count toward
    ``n_particles``, every particle weighted as a draw of both generations' proposals.

    Parameters
    ----------
    prior, simulate, distance, vectorized, on_error, batch_timeout
        As for :class:`~abcspark.RejectionABC`.
    engine, parallelism, spark, keep_statistics
        As for :class:`~abcspark.RejectionABC`.
    batch_size : int, optional
        Proposals per batch; by default a tenth of ``n_particles``, between 10 and 1,000, at
        least a 100,000th of ``max_simulations`` and at most a twentieth of it.
    n_particles : int, default 1000
        Particles per generation.
    generations : int, optional
        Most generations to run (including generation 0); by default 5, or, with
        ``max_simulations``, as many as the budget buys (as pyABC does).
    epsilon_quantile : float, optional
        Next epsilon = this weighted quantile of the last generation's distances. By default
        0.3 with ``max_simulations``, closer to the exact posteriors per simulation in 10 of 16
        measured cells (README, accuracy), and 0.5 without, where 0.3 costs far more.
    epsilons : sequence of float, optional
        A non-increasing schedule instead (its length caps ``generations``); ``inf`` first.
    target_acceptance_rate : float, optional
        Instead of ``epsilon_quantile``: each epsilon is the smallest 5% quantile of the last
        distances at which the forecast acceptance rate reaches this (pyABC's acceptance-rate
        scheme); the largest distance if none does (:func:`abcspark.budget.epsilon_for_rate`).
    min_epsilon : float, default 0
        Stop after the generation that reaches it (epsilon never goes below it).
    max_simulations : int, optional
        The budget in simulator calls (proposals outside the support are free), never exceeded
        by more than one batch; 1e8 if not given. The last generation spends what is left
        (:func:`abcspark.budget.fit_budget`), at a smaller epsilon only where the regression
        of the parameters on the statistics forecasts that closer than spending it at the last
        epsilon (:mod:`abcspark.tolerance`); one the budget cuts short joins the last one's
        particles within its epsilon and is kept if that holds a quarter of ``n_particles``.
    min_acceptance_rate : float, default 0
        Stop after a generation whose acceptance rate falls below it.
    min_epsilon_difference : float, default 0
        Stop when epsilon falls by less than this from one generation to the next.
    max_walltime : float, optional
        Seconds; no generation starts after the run has taken this long.
    kernel : {'silverman', 'scott', 'gaussian', 'olcm', 'local'} or Kernel, default 'silverman'
        :class:`~abcspark.GaussianKernel` at Silverman's or Scott's bandwidth on the weighted
        covariance, or (``'gaussian'``) at twice it (Beaumont et al.); :class:`~abcspark.OLCMKernel`
        (Filippi et al.), :class:`~abcspark.LocalKernel` (nearest neighbours' covariance), or a
        user's :class:`~abcspark.Kernel`. The default measured closest to the exact posteriors
        per simulation (README, "Accuracy"). With discrete parameters it moves the continuous
        ones only.
    transform : {'log', 'all', 'none'}, optional
        Where the kernel is fitted and proposes (:mod:`abcspark.transforms`). ``'log'`` (the
        default without discrete parameters): one-sided bounds (LogNormal, Gamma) on the log
        scale, closer on a skewed posterior (README, accuracy); ``'all'``: boxes too, by the
        logit; ``'none'`` (the default with discrete parameters): as they are.
    prior_draws : float, optional
        Generation 0 (at epsilon inf) simulates ``prior_draws * n_particles`` prior draws (at
        most ``max_simulations``) and keeps the ``n_particles`` closest: rejection ABC at the
        epsilon they reach, which its record holds. By default 4 with ``max_simulations``,
        closer per simulation (README, accuracy), and 1 (every draw, epsilon inf) without.
    recycle : bool, optional
        Each generation also keeps the last generation's own particles within its epsilon,
        weighted as draws of both proposals, and draws only the rest of ``n_particles`` (at
        least half) itself (:mod:`abcspark.recycling`; the rest of a budget spent at the last
        epsilon may join the whole last population). By default on (30% fewer simulations than
        pyABC to its final epsilon on the height problem, at as large an ESS, and closer per
        simulation: README), and never with an adaptive distance.
    discrete_kernel : DiscreteRandomWalk or DiscreteJump, optional
        Integer steps for the discrete parameters (`~abcspark.Poisson`,
        `~abcspark.Categorical`), from the same resampled particle as the kernel's move;
        default ``DiscreteRandomWalk()``.
    progress : bool, optional
        Progress display per generation; default on in Jupyter and in a terminal.

    References
    ----------
    Beaumont, M. A., Cornuet, J.-M., Marin, J.-M. and Robert, C. P. (2009). Adaptive
    approximate Bayesian computation. Biometrika 96(4), 983-990.

    Examples
    --------
    >>> from abcspark import Prior, Uniform
    >>> def simulate(theta, rng):
    ...     return theta + rng.normal(0.0, 1.0, size=theta.shape)
    >>> pmc = PMCABC(Prior(mu=Uniform(-10, 10)), simulate, n_particles=200, generations=3,
    ...              engine="numpy")
    >>> post = pmc.run([1.0], seed=1)
    >>> list(post.history["generation"])
    [0, 1, 2]
    """

    name = "PMCABC"

    def __init__(
        self,
        prior: Prior,
        simulate: Callable,
        distance: Any = "euclidean",
        *,
        n_particles: int = 1000,
        generations: Optional[int] = None,
        epsilon_quantile: Optional[float] = None,
        epsilons: Optional[Sequence[float]] = None,
        target_acceptance_rate: Optional[float] = None,
        min_epsilon: float = 0.0,
        max_simulations: Optional[int] = None,
        min_acceptance_rate: float = 0.0,
        min_epsilon_difference: float = 0.0,
        max_walltime: Optional[float] = None,
        kernel: Any = "silverman",
        transform: Optional[str] = None,
        prior_draws: Optional[float] = None,
        recycle: Optional[bool] = None,
        discrete_kernel: Optional[DiscreteKernel] = None,
        progress: Optional[bool] = None,
        **problem: Any,
    ):
        budgeted = max_simulations is not None
        if generations is None and not budgeted:
            generations = DEFAULT_GENERATIONS
        if epsilons is not None and hasattr(epsilons, "__len__") and len(epsilons) > 0:
            generations = len(epsilons) if generations is None else min(generations, len(epsilons))
        super().__init__(
            Problem(prior, simulate, "euclidean" if distance is None else distance, **problem),
            n_particles=n_particles,
            generations=generations,
            min_epsilon=min_epsilon,
            max_simulations=max_simulations,
            min_acceptance_rate=min_acceptance_rate,
            min_epsilon_difference=min_epsilon_difference,
            max_walltime=max_walltime,
            progress=progress,
        )
        self.discrete = np.isin(prior.names, prior.discrete_names)
        self.discrete_kernel = discrete_kernel or DiscreteRandomWalk()
        if not isinstance(self.discrete_kernel, get_args(DiscreteKernel)):
            raise TypeError(
                f"discrete_kernel must be a DiscreteRandomWalk or a DiscreteJump (got "
                f"{discrete_kernel!r}); use e.g. DiscreteRandomWalk(scale=1.0)."
            )
        if epsilon_quantile is None:
            epsilon_quantile = BUDGET_EPSILON_QUANTILE if budgeted else 0.5
        self.epsilon_quantile, self.epsilons, self.target_acceptance_rate = epsilon_rule(
            epsilon_quantile, epsilons, target_acceptance_rate
        )
        self.kernel = as_kernel(kernel)
        self.transform = check_transform(transform, self.discrete.any())
        if prior_draws is None:
            prior_draws = BUDGET_PRIOR_DRAWS if budgeted else 1.0
        self.prior_draws = real("prior_draws", prior_draws, 1, example="4")
        self.recycle = check_recycle(recycle, self.problem.adaptive)
        # The budget's last generation reads the statistics (abcspark.tolerance), not the user.
        reads = budgeted and self.epsilons is None and not self.discrete.any()
        self.problem.task_statistics |= reads and self.problem.vectorized

    def settings(self) -> dict:
        return {
            **super().settings(),
            "epsilon_quantile": self.epsilon_quantile,
            "epsilons": self.epsilons,
            "target_acceptance_rate": self.target_acceptance_rate,
            "kernel": self.kernel.to_dict(),
            **({"transform": self.transform} if self._mapped() is not None else {}),
            **({"prior_draws": self.prior_draws} if self.prior_draws != 1 else {}),
            **({"recycle": True} if self.recycle else {}),
            **({"discrete_kernel": self.discrete_kernel.to_dict()} if self.discrete.any() else {}),
        }

    def _plan(self, g: int, run: Run) -> Optional[Tuple[float, int]]:
        if g == 0:
            epsilon = np.inf if self.epsilons is None else self.epsilons[0]
            draws = int(np.ceil(self.prior_draws * self.n_particles)) if epsilon == np.inf else 0
            return epsilon, max(min(draws, self.max_simulations), self.n_particles)
        if self.epsilons is None:
            distances, weights = run.population["distance"], run.population["weight"]
            q = [self.epsilon_quantile]
            epsilon = float(quantile(distances.to_numpy(), weights.to_numpy(), q)[0])
        else:
            epsilon = self.epsilons[g]
        return next_plan(
            run.population,
            run.records,
            epsilon,
            self.n_particles,
            self.max_simulations - run.n_used,
            target_acceptance_rate=self.target_acceptance_rate,
            min_epsilon=self.min_epsilon if self.epsilons is None else 0.0,
            scheduled=self.epsilons is not None,
            adaptive=self.problem.adaptive,
            recycle=self.recycle,
            tolerance=tolerance_error(run.population, self.problem.prior, run.observed),
        )

    def _sample(self, g: int, proposal: Any, epsilon: float, n_particles: int, run: Run) -> Sample:
        # The last generation, sized to the budget left, keeps all the rest buys, wasting none.
        spend_rest = g > 0 and n_particles != self.n_particles
        wanted = sys.maxsize if spend_rest else n_particles
        normal = self.recycle and g > 0 and not spend_rest  # its recycled particles count
        kept = reused(run.population, g, epsilon, n_particles) if normal else 0
        sample = super()._sample(g, proposal, epsilon, wanted, run, kept)
        if spend_rest and len(sample.particles) >= n_particles:
            return replace(sample, stop="complete")  # the particles planned, and more
        if g > 0 or self.prior_draws == 1 or len(sample.particles) < self.n_particles:
            return sample
        return closest(sample, self.n_particles)

    def _generation(self, g: int, run: Run) -> Optional[str]:
        stop = super()._generation(g, run)
        if g == 0 and self.prior_draws > 1 and run.records[0].epsilon == np.inf:
            reached = float(run.population["distance"].max())  # the closest of more draws
            run.records[0] = replace(run.records[0], epsilon=reached)
        return stop

    def _population(
        self, g: int, sample: Sample, proposal: Any, epsilon: float, ends: bool, run: Run
    ) -> pd.DataFrame:
        if not self.recycle or g == 0:
            joined = super()._population(g, sample, proposal, epsilon, ends, run)
            return marked(joined, 0) if self.recycle else joined
        last = (self._last_log_density(g, run), run.records[-1].n_proposals)
        pooled = recycled(sample, proposal, run.population, last, g, epsilon, self.problem.prior)
        size = ess(pooled["weight"].to_numpy()) if len(pooled) else 0.0
        at_last = ends and epsilon >= run.records[-1].epsilon  # the rest of the budget there
        least = kept_from(run.records[-1], self.n_particles)[1]  # a cut one under it is dropped
        if not at_last and len(pooled) and (sample.stop == "complete" or size >= least):
            return pooled
        joined = marked(super()._population(g, sample, proposal, epsilon, ends, run), g)  # by ESS
        return pooled if at_last and size > ess(joined["weight"].to_numpy()) else joined

    def _last_log_density(self, g: int, run: Run) -> Callable:
        """The log density of generation ``g - 1``'s proposal, refitted as it was if resumed."""
        if g > 1 and run.proposal is None:  # resumed: it was fitted to generation g - 2
            before = run.checkpoint.load(g - 2)[0]
            run.proposal = self._proposal(g - 1, before, run.records[-1].epsilon)
        return self.problem.prior.log_pdf if g == 1 else run.proposal.log_density

    def _proposal(self, g: int, population: Optional[pd.DataFrame], epsilon: float) -> Any:
        if g == 0:
            return self.problem.prior
        fitted = self._fitted(population, epsilon)
        if self.discrete.any():
            return mixed_proposal(self.kernel, self.discrete_kernel, self.discrete, *fitted)
        return fit_proposal(self.kernel, self._mapped(), *fitted)

    def _mapped(self) -> Optional[np.ndarray]:
        """The bounds the kernel's map uses; None if it maps nothing (then, as before it)."""
        return mapped_bounds(self.problem.prior.bounds(), self.transform)

    def _fitted(self, population: pd.DataFrame, epsilon: float) -> tuple:
        """What a kernel is fitted to: ``(particles, weights, distances, epsilon)``."""
        # A particle whose weight underflowed to 0 is never proposed from: the kernel skips it.
        live = population[population["weight"].to_numpy() > 0]
        theta = live[self.problem.prior.names].to_numpy()
        return theta, live["weight"].to_numpy(), live["distance"].to_numpy(), epsilon

    def _weights(self, g: int, theta: np.ndarray, proposal: Any) -> np.ndarray:
        if g == 0:
            return np.full(len(theta), 1.0 / len(theta))
        return importance_weights(theta, self.problem.prior.log_pdf(theta), proposal)
