"""abcspark's side of the accuracy benchmark: the methods it runs, each a named configuration.

Every PMC method is ``PMCABC`` at its defaults except the options in :data:`PMC_OPTIONS`, so
the table answers issue 14 (which default kernel and which epsilon quantile come closest to the
exact posterior per simulation):

``pmc``            the defaults, whatever they are when it runs (each row records the kernel
                   and epsilon quantile it used; until issue 14 ``kernel="gaussian"`` and
                   ``epsilon_quantile=0.5``);
``pmc-gaussian``   ``GaussianKernel(scale=2.0)``, twice the weighted covariance (Beaumont et
                   al. 2009), the default before issue 14;
``pmc-olcm``       ``OLCMKernel`` (Filippi et al. 2013);
``pmc-silverman``  ``GaussianKernel(scale="silverman")``, the bandwidth of pyABC's default
                   transition (about 0.1 times the covariance for 1,000 particles in 2-D);
``pmc-scott``      ``GaussianKernel(scale="scott")``; in 2-D the two rules are the same number
                   (Silverman's ``(4 / (d + 2))`` is 1), so it differs only in ``gaussian10``;
``pmc-local``      ``LocalKernel()``, the covariance of each particle's nearest quarter;
``pmc-q0.3``       ``epsilon_quantile=0.3`` (the default with a budget since 2026-12-02),
                   ``pmc-q0.5`` ``epsilon_quantile=0.5`` (the default before), ``pmc-q0.7``
                   ``epsilon_quantile=0.7``: faster and slower epsilon schedules;
``pmc-silverman-q0.3``  Silverman's kernel and ``epsilon_quantile=0.3`` together;
``pmc-adjust``     the defaults, then ``Posterior.adjust()`` (local-linear regression
                   adjustment; since 2026-12-04 evening of every generation within twice the
                   last epsilon); ``pmc-adjust-last``: ``adjust(pool=False)``, of the last
                   population alone, as before; ``pmc-adjust-neural``:
                   ``Posterior.adjust("neural")``;
``pmc-adaptive``   ``AdaptiveEuclidean()``: scales refitted after every generation;
``pmc-target0.2``  ``target_acceptance_rate=0.2``: the acceptance-rate-driven schedule;
``pmc-prior2``    ``prior_draws=2``: generation 0 keeps the closest N of 2N prior draws
                   (``pmc-prior4``: of 4N);
``pmc-transform-all``  ``transform="all"``: the kernel fitted and proposing on the real line,
                   boxes by the logit too (the default, ``"log"``, maps only parameters
                   bounded on one side); ``pmc-transform-none``: on the parameters as they
                   are, the default before 2026-12-02;
``pmc-at-pyabc``   the defaults with the budget pyABC actually used (``accuracy.py`` sets it).

``smc`` is ``SMCABC`` (Del Moral et al. 2012) and ``apmc`` ``APMCABC`` (Lenormand et al.
2013), each at its defaults given N particles and the budget (``max_simulations``); their own
stop rules (SMC's ``min_acceptance_rate``, APMC's ``p_acc_min``) may end them before it is
spent; ``apmc-log`` is APMC with ``transform="log"``, PMC's default. ``rejection`` is
``RejectionABC`` keeping the closest N of B. The others (``pyabc``, ``exact-N``) are not
abcspark's and run in ``accuracy.py``.
"""

from __future__ import annotations

import inspect
import time

from accuracy_models import Model

PMC_OPTIONS = {
    "pmc": {},
    "pmc-gaussian": {"kernel": "gaussian"},
    "pmc-olcm": {"kernel": "olcm"},
    "pmc-silverman": {"kernel": "silverman"},
    "pmc-scott": {"kernel": "scott"},
    "pmc-local": {"kernel": "local"},
    "pmc-q0.3": {"epsilon_quantile": 0.3},
    "pmc-q0.5": {"epsilon_quantile": 0.5},
    "pmc-q0.7": {"epsilon_quantile": 0.7},
    "pmc-silverman-q0.3": {"kernel": "silverman", "epsilon_quantile": 0.3},
    "pmc-adjust": {"keep_statistics": True},
    "pmc-adjust-last": {"keep_statistics": True},
    "pmc-adjust-neural": {"keep_statistics": True},
    "pmc-adaptive": {"adaptive": True},
    "pmc-target0.2": {"target_acceptance_rate": 0.2},
    "pmc-prior2": {"prior_draws": 2},
    "pmc-prior4": {"prior_draws": 4},
    "pmc-transform-all": {"transform": "all"},
    "pmc-transform-none": {"transform": "none"},
    "pmc-at-pyabc": {},
}
"""``PMCABC`` options per method, on top of the defaults (kernels given by their shortcut
names, which ``abcspark.kernels.SHORTCUTS`` maps to the same objects as written above)."""

ADJUSTMENTS = {"pmc-adjust": "linear", "pmc-adjust-last": "linear", "pmc-adjust-neural": "neural"}
"""The methods that adjust the default PMC's posterior, and how."""

SEQUENTIAL = ("smc", "apmc", "apmc-log")
"""Other population algorithms, at their defaults given N and the budget."""

METHODS = (*PMC_OPTIONS, *SEQUENTIAL, "rejection", "pyabc", "exact-N")
"""Every method, in the order of the tables' columns."""


def abcspark_prior(model: Model):
    from abcspark import LogNormal, Normal, Prior, Uniform

    families = {"uniform": Uniform, "normal": Normal, "lognormal": LogNormal}
    return Prior(**{name: families[family](*args) for name, family, args in model.prior})


def run_abcspark(method: str, model: Model, observed, budget: int, seed: int, n: int):
    """One abcspark run with ``n`` particles and ``budget`` simulations: ``(posterior, s)``."""
    from abcspark import APMCABC, PMCABC, SMCABC, AdaptiveEuclidean, RejectionABC

    prior = abcspark_prior(model)
    options = dict(PMC_OPTIONS.get(method, {}))
    if options.pop("adaptive", False):
        options["distance"] = AdaptiveEuclidean()
    started = time.perf_counter()
    if method == "rejection":
        abc = RejectionABC(prior, model.simulate, engine="numpy")
        post = abc.run(observed, quantile=n / budget, n_simulations=budget, seed=seed)
        return post, time.perf_counter() - started
    if method in SEQUENTIAL:
        cls = SMCABC if method == "smc" else APMCABC
        options = dict(n_particles=n, max_simulations=budget, engine="numpy", progress=False)
        if method == "apmc-log":
            options["transform"] = "log"
        post = cls(prior, model.simulate, **options).run(observed, seed=seed)
        return post, time.perf_counter() - started
    pmc = PMCABC(
        prior,
        model.simulate,
        n_particles=n,
        generations=10**6,
        max_simulations=budget,
        engine="numpy",
        progress=False,
        **options,
    )
    post = pmc.run(observed, seed=seed)
    if method in ADJUSTMENTS:
        post = post.adjust(ADJUSTMENTS[method], pool=method != "pmc-adjust-last")
    return post, time.perf_counter() - started


def available_methods(asked) -> list:
    """``asked`` without the methods this abcspark cannot run (each one said)."""
    from abcspark import Posterior

    methods = list(asked)
    if (
        "pmc-adjust-neural" in methods
        and "method" not in inspect.signature(Posterior.adjust).parameters
    ):
        print("abcspark's Posterior.adjust has no method: skipping pmc-adjust-neural", flush=True)
        methods.remove("pmc-adjust-neural")
    return methods
