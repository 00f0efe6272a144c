"""PMC variants against the default, run by run, on the accuracy models (README, accuracy).

Each variant runs the same seeds and observations as the default, with ``max_simulations``
and the accuracy benchmark's population size; the figure is the energy distance of its 10,000
KDE draws to the exact posterior (``accuracy.draws_of``, ``accuracy_metrics``). Printed per
run, then per variant: the mean difference to the default, its standard error, and the pairs
in which the variant is closer::

    .venv/bin/python benchmarks/variants.py --model sir --budget 1e6 --variants silverman-n

Variants are kernels written on the public :class:`abcspark.Kernel` API, or other settings:

- ``silverman-n``: Silverman's bandwidth at the population size instead of its ESS;
- ``defensive``: a tenth of every proposal from twice the weighted covariance;
- ``median``: ``epsilon_quantile=0.5``.

The recycling variant of the README is the one-line change ``join = g > 0 and not
self.problem.adaptive`` in ``SequentialABC._generation`` (and, for recycling only at a low
ESS, ``join = g > 0 and (ends or ess(weights) < 0.5 * len(weights)) and not ...``; for
recycling only the last generation's own particles, keep each generation's unmerged
population and join ``within`` of that one instead), run with the default here from a
checkout that has it.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from accuracy import N_DRAWS, N_PARTICLES, draws_of
from accuracy_methods import abcspark_prior
from accuracy_metrics import energy_distance
from accuracy_models import MODELS

from abcspark import PMCABC, Kernel
from abcspark.kernels import BANDWIDTH_RULES, GaussianMixture
from abcspark.weighted import covariance, ess


class SilvermanAtN(Kernel):
    """Silverman's rule of thumb at the number of particles, not at their ESS."""

    def fit(self, particles, weights, distances, epsilon):
        n, d = particles.shape
        factor = BANDWIDTH_RULES["silverman"](n, d) ** 2
        return GaussianMixture(particles, weights, factor * covariance(particles, weights))


class Defensive(Kernel):
    """Silverman's kernel, with ``share`` of every proposal at ``wide`` times the covariance."""

    def __init__(self, share: float = 0.1, wide: float = 2.0):
        self.share, self.wide = share, wide

    def fit(self, particles, weights, distances, epsilon):
        n, d = particles.shape
        cov = covariance(particles, weights)
        narrow = BANDWIDTH_RULES["silverman"](ess(weights), d) ** 2 * cov
        covs = np.concatenate(
            [np.repeat(narrow[None], n, 0), np.repeat(self.wide * cov[None], n, 0)]
        )
        mixed = np.concatenate([(1 - self.share) * weights, self.share * weights])
        return GaussianMixture(np.vstack([particles, particles]), mixed, covs)


VARIANTS = {
    "default": {},
    "silverman-n": {"kernel": SilvermanAtN()},
    "defensive": {"kernel": Defensive()},
    "median": {"epsilon_quantile": 0.5},
}


def energy(model, budget: int, observation: int, seed: int, options: dict, exact) -> float:
    """One run's energy distance to the exact posterior."""
    pmc = PMCABC(
        abcspark_prior(model),
        model.simulate,
        n_particles=N_PARTICLES[budget],
        max_simulations=budget,
        engine="numpy",
        progress=False,
        **options,
    )
    post = pmc.run(model.observed(observation), seed=seed)
    draws, _ = draws_of(model, post.samples.to_numpy(), post.weights, seed, "kde")
    return energy_distance(draws, exact)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), required=True)
    parser.add_argument("--budget", type=float, choices=[1e3, 1e4, 1e5, 1e6], required=True)
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), required=True)
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--observations", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args(argv)
    model, budget = MODELS[args.model], int(args.budget)
    found = {name: [] for name in ["default", *args.variants]}
    for observation in args.observations:
        exact = model.exact(
            model.observed(observation), N_DRAWS, np.random.default_rng(9_000 + observation)
        )
        for seed in range(1, args.seeds + 1):
            for name, runs in found.items():
                runs.append(energy(model, budget, observation, seed, VARIANTS[name], exact))
            row = " ".join(f"{name} {runs[-1]:.4g}" for name, runs in found.items())
            print(
                f"{model.name} {budget:.0e} observation {observation} seed {seed}: {row}",
                flush=True,
            )
    for name in args.variants:
        diff = np.array(found[name]) - np.array(found["default"])
        se = statistics.stdev(diff) / len(diff) ** 0.5 if len(diff) > 1 else float("nan")
        print(
            f"{name}: {np.mean(found[name]):.4g} against {np.mean(found['default']):.4g}, "
            f"difference {diff.mean():+.3g} (se {se:.2g}), "
            f"closer in {(diff < 0).sum()} of {len(diff)}"
        )


if __name__ == "__main__":
    main()
