"""Golden posteriors: the same seeds and settings give the recorded bits on every engine.

``tests/golden.json`` holds, per case, SHA-256 digests of the particles, weights, distances and
history (plus readable means). It was recorded before the package was reorganised; a change
that moves a single bit of any case fails here. A change that means to alter results (a new
default) re-records it with ``python tests/test_golden.py --record`` and says so in its commit.
Both run on the CPU kernels that ``conftest`` pins (the bits of a matrix product depend on them).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Callable, Dict

import conftest  # noqa: F401 (first: it pins the CPU kernels before NumPy is imported)
import numpy as np
import pytest
from test_reproducibility import one_height_sample, summary_distance  # the per-parameter twin

from abcspark import PMCABC, Normal, Prior, RejectionABC, ScaledEuclidean, Uniform, nested
from abcspark.examples import height_problem

GOLDEN = Path(__file__).parent / "golden.json"
PRIOR, MODEL, OBSERVED = height_problem()
HISTORY = ("epsilon", "n_proposals", "n_simulations", "acceptance_rate", "ess", "n_failed")


def failing_model(theta, rng):
    stats = MODEL(theta, rng)
    stats[theta[:, 1] < 8] = np.nan  # small sigmas fail: skipped and counted
    return stats


@nested(process_per_model=2)
def ranked_model(theta, rng, comm):
    stats = MODEL(theta, rng)
    return comm.bcast(stats if comm.rank == 0 else None)


INFORMATIVE = Prior(mu=Normal(180, 5), sigma=Uniform(5, 25))


def _cases() -> Dict[str, Callable[..., Any]]:
    def pmc(model=MODEL, distance=None, prior=PRIOR, **options):
        # The kernel and quantile are pinned: a change of PMC's defaults is not a regression.
        settings = dict(n_particles=200, generations=4, batch_size=200, progress=False)
        settings.update(kernel="gaussian", epsilon_quantile=0.5)
        settings.update(options)
        return lambda **engine: PMCABC(prior, model, distance, **settings, **engine).run(
            OBSERVED, seed=42
        )

    def rejection(model=MODEL, distance=None, batch_size=500, **stop):
        return lambda **engine: RejectionABC(
            PRIOR, model, distance, batch_size=batch_size, **engine
        ).run(OBSERVED, seed=8, **stop)

    return {
        "pmc_gaussian": pmc(),
        "pmc_olcm": pmc(kernel="olcm"),
        "pmc_informative_prior": pmc(prior=INFORMATIVE),
        "pmc_schedule": pmc(epsilons=[np.inf, 12.0, 8.0]),
        # 4N prior draws, to the end; recycling pinned off as it was recorded, and on in its twin
        "pmc_budget": pmc(max_simulations=3000, generations=None, recycle=False),
        "pmc_budget_recycled": pmc(max_simulations=3000, generations=None),
        "pmc_scaled_pilot": pmc(distance=ScaledEuclidean()),
        "pmc_skip_failures": pmc(model=failing_model, on_error="skip"),
        "pmc_per_parameter": pmc(
            model=one_height_sample, distance=summary_distance, vectorized=False
        ),
        "rejection_until": rejection(epsilon=8.0, n_samples=300),
        "rejection_quantile": rejection(quantile=0.02, n_simulations=20_000),
        "rejection_budget": rejection(epsilon=6.0, n_simulations=10_000),
        "rejection_nested": rejection(model=ranked_model, quantile=0.05, n_simulations=1_000),
    }


CASES = _cases()


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float64).tobytes()).hexdigest()


def fingerprint(posterior: Any) -> dict:
    """Digests of everything a posterior holds that a seed decides, and its readable means."""
    history = posterior.history
    return {
        "samples": _digest(posterior.samples.to_numpy()),
        "weights": _digest(posterior.weights),
        "distances": _digest(posterior.distances),
        "history": {c: _digest(history[c].to_numpy()) for c in HISTORY},
        "columns": list(posterior.samples.columns),
        "mean": [round(float(v), 6) for v in posterior.mean()],
        "n_simulations": int(history["n_simulations"].sum()),
    }


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("case", sorted(CASES))
def test_numpy_engine_gives_the_golden_posterior(golden, case):
    assert fingerprint(CASES[case](engine="numpy")) == golden[case]


@pytest.mark.parametrize("case", sorted(CASES))
def test_spark_engine_gives_the_golden_posterior(spark, golden, case):
    parallelism = 1 if case == "rejection_nested" else 3  # 2 ranks fill both task slots
    assert fingerprint(CASES[case](spark=spark, parallelism=parallelism)) == golden[case]


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_golden.py --record")
    recorded = {case: fingerprint(run(engine="numpy")) for case, run in sorted(CASES.items())}
    GOLDEN.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(recorded)} cases in {GOLDEN}")
