"""pyABC 0.13's ABC-SMC on a discrete benchmark model, run under pyABC's own python.

Run through ``case.py`` (``peer_pyabc_discrete.smc``) with the python that ``setup_pyabc.sh``
prints; it imports ``discrete_models`` (NumPy and SciPy only) and the per-row model wrapper of
``peer_pyabc_accuracy``, never abcspark.

The transition is what pyABC's documentation (its "Discrete parameters" notebook) recommends
for a mixed model: an ``AggregatedTransition`` mapping the integer parameter to a
``DiscreteJumpTransition`` (resample a value from the last population's histogram, keep it
with ``p_stay=0.7``, else jump uniformly to another value of the finite domain) and the
continuous parameters to the default ``MultivariateNormalTransition``. The two blocks are
drawn independently: the proposal is the product of the marginals, so it cannot follow a
correlation between them. ``transition="walk"`` uses ``DiscreteRandomWalkTransition()`` (one
step of -1, 0 or +1 from a resampled particle) instead, which the notebook calls invalid as
an importance distribution (values farther than one step from every particle are never
proposed); it is what abcspark's ``DiscreteRandomWalk`` resembles.

The jump transition needs a finite domain: a Poisson prior is given to pyABC on
``DiscreteModel.domain`` (its tail beyond, below 1e-10, dropped) as an ``rv_discrete``.
Everything else is as in ``peer_pyabc_accuracy``: ``MedianEpsilon``, ``PNormDistance(p=2)``,
``MulticoreEvalParallelSampler(n_procs=2)``, ``max_total_nr_simulations`` as the budget
(overshot: the simulations actually run are ``History.total_nr_simulations``).
"""

from __future__ import annotations

from discrete_models import MODELS, DiscreteModel
from peer_pyabc_accuracy import abcsmc


def _prior(model: DiscreteModel):
    import pyabc

    rvs = {}
    for j, (name, _, args) in enumerate(model.prior):
        if model.discrete[j]:
            values = (model.domain(j), model.prior_mass(j))
            rvs[name] = pyabc.RV("rv_discrete", values=values)
        else:  # normal (mean, sd)
            rvs[name] = pyabc.RV("norm", args[0], args[1])
    return pyabc.Distribution(**rvs)


def _transition(model: DiscreteModel, transition: str):
    import pyabc

    mapping = {}
    for j, name in enumerate(model.names):
        if not model.discrete[j]:
            continue
        if transition == "jump":
            mapping[name] = pyabc.DiscreteJumpTransition(domain=model.domain(j), p_stay=0.7)
        else:
            mapping[name] = pyabc.DiscreteRandomWalkTransition()
    continuous = tuple(n for j, n in enumerate(model.names) if not model.discrete[j])
    if continuous:
        mapping[continuous] = pyabc.MultivariateNormalTransition()
    return pyabc.AggregatedTransition(mapping=mapping)


def smc(
    model: str, observation: int, budget: int, n_particles: int, seed: int, transition: str
) -> dict:
    """ABCSMC on ``model``'s observation with ``max_total_nr_simulations=budget``."""
    problem = MODELS[model]
    transitions = _transition(problem, transition)
    return abcsmc(problem, _prior(problem), observation, budget, n_particles, seed, transitions)
