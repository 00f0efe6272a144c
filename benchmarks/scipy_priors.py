"""scipy.stats priors against abcspark's own distributions: draws and log densities, as ratios.

Run from the repository root: ``.venv/bin/python benchmarks/scipy_priors.py``. For each pair
(abcspark's distribution, the same scipy.stats one wrapped by `Prior`), times 10^6 draws and
10^6 log densities, alternating the two, best of 5, and prints scipy's time over abcspark's.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import scipy.stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from abcspark import Gamma, Normal, Poisson, Prior, Uniform  # noqa: E402

N = 10**6
REPEATS = 5
PAIRS = {
    "normal": (Normal(170, 10), scipy.stats.norm(170, 10)),
    "uniform": (Uniform(150, 200), scipy.stats.uniform(150, 50)),
    "gamma": (Gamma(2, 3), scipy.stats.gamma(2, scale=3)),
    "poisson": (Poisson(4), scipy.stats.poisson(4)),
}


def best_seconds(works) -> list:
    """The shortest of ``REPEATS`` timings of each of ``works``, run in turn each round."""
    times = [[] for _ in works]
    for _ in range(REPEATS):
        for work, spent in zip(works, times):
            start = time.perf_counter()
            work()
            spent.append(time.perf_counter() - start)
    return [min(spent) for spent in times]


def main() -> None:
    print(f"{N:,} values, best of {REPEATS}; ratio = scipy.stats time / abcspark time")
    print(f"{'distribution':<14}{'draws':>10}{'log pdf':>10}{'scipy log pdf, ms':>20}")
    for label, (own, frozen) in PAIRS.items():
        ours, theirs = Prior(x=own), Prior(x=frozen)
        x = ours.sample(N, np.random.default_rng(0))
        rng = np.random.default_rng(1)
        draws = best_seconds([lambda p=p, r=rng: p.sample(N, r) for p in (ours, theirs)])
        densities = best_seconds([lambda p=p, v=x: p.log_pdf(v) for p in (ours, theirs)])
        ratios = f"{draws[1] / draws[0]:>9.1f}x{densities[1] / densities[0]:>9.1f}x"
        print(f"{label:<14}{ratios}{densities[1] * 1e3:>20.0f}")


if __name__ == "__main__":
    main()
