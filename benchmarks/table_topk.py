"""run_many's per-partition top-k: the current ``Search.frames`` against the one it replaced.

One partition of ``--rows`` table rows (the cheap model of ``table_memory.py``: mean and sd of
10 normal draws, batches of 100,000) arrives as Arrow does, in frames of 10,000 rows, and the
``K`` nearest rows of each of ``--observations`` datasets are kept, Euclidean distance, in this
process without Spark (the part of a ``run_many`` task that grows with rows times datasets).
The former ``Search`` is read from git at ``BEFORE`` (a matrix of observations by 2,000 rows, one
distance call per observation and chunk, ``np.partition`` over the matrix); the current one is
``abcspark.table_search``. Both run alternately, ``--repeats`` times each, so the ratio compares
the same minutes of a shared machine; the outputs must be equal, frame for frame, before any
time is reported, also with ties (statistics rounded) and in the until and epsilon modes.

Usage: ``.venv/bin/python benchmarks/table_topk.py [--rows 1e6] [--observations 1000]``
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from abcspark.distances import Euclidean  # noqa: E402
from abcspark.table_search import Search  # noqa: E402

BEFORE = "c324ca7"
"""The commit whose ``abcspark/table_search.py`` is the former top-k."""
K = 100
FRAME = 10_000  # Arrow's default maxRecordsPerBatch


def former() -> type:
    """The ``Search`` class of ``BEFORE``, loaded from git as a module of its own."""
    text = subprocess.run(
        ["git", "show", f"{BEFORE}:abcspark/table_search.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "former_search.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("former_search", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["former_search"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.Search


def table(n: int, seed: int, digits: int | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    theta = np.column_stack([rng.normal(0, 2, n), rng.uniform(0.5, 1.5, n)])
    draws = theta[:, :1] + theta[:, 1:] * rng.standard_normal((n, 10))
    stats = np.column_stack([draws.mean(axis=1), draws.std(axis=1, ddof=1)])
    if digits is not None:  # many ties
        stats = stats.round(digits)
    rows = np.arange(n)
    return pd.DataFrame(
        {
            "batch": rows // 100_000,
            "index": rows % 100_000,
            "mu": theta[:, 0],
            "sigma": theta[:, 1],
            "stat_0": stats[:, 0],
            "stat_1": stats[:, 1],
        }
    )


def frames(rows: pd.DataFrame):
    return (rows.iloc[i : i + FRAME].reset_index(drop=True) for i in range(0, len(rows), FRAME))


def searches(cls: type, rows: pd.DataFrame, m: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    observed = rows[["stat_0", "stat_1"]].to_numpy()[rng.integers(0, len(rows), m)] + 0.01
    common = (observed, np.arange(m), ["stat_0", "stat_1"], Euclidean())
    return {
        "k": cls(*common, K),
        "until": cls(*common, K, 0.5, by_distance=False),
        "epsilon": cls(*common, None, 0.05),
    }


def check(before: type, after: type) -> None:
    """The two give equal frames on tied and untied tables, in the three modes."""
    for digits in (None, 1):
        rows = table(250_000, 3, digits).sample(frac=1.0, random_state=4)  # any arrival order
        old, new = searches(before, rows, 30, 5), searches(after, rows, 30, 5)
        for mode in old:
            expected = pd.concat(old[mode].frames(frames(rows)), ignore_index=True)
            found = pd.concat(new[mode].frames(frames(rows)), ignore_index=True)
            if mode == "epsilon":  # every row within epsilon, in chunk order: compare sorted
                keys = ["id", "batch", "index"]
                expected = expected.sort_values(keys, ignore_index=True)
                found = found.sort_values(keys, ignore_index=True)
            pd.testing.assert_frame_equal(found, expected, check_exact=True)
            merged = old[mode].merge(expected), new[mode].merge(found)
            pd.testing.assert_frame_equal(merged[1], merged[0], check_exact=True)


def timed(search: Search, rows: pd.DataFrame) -> tuple:
    started = time.perf_counter()
    found = pd.concat(search.frames(frames(rows)), ignore_index=True)
    return time.perf_counter() - started, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=1e6)
    parser.add_argument("--observations", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    before = former()
    check(before, Search)
    rows = table(int(args.rows), 1)
    old, new = (
        searches(before, rows, args.observations, 2)["k"],
        searches(Search, rows, args.observations, 2)["k"],
    )
    times: dict = {"before": [], "after": []}
    for _ in range(args.repeats):
        for name, search in (("before", old), ("after", new)):
            seconds, found = timed(search, rows)
            times[name].append(seconds)
            if name == "before":
                expected = found
            else:
                pd.testing.assert_frame_equal(found, expected, check_exact=True)
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"{int(args.rows):,} rows x {args.observations:,} datasets, {K} nearest, one process")
    print(f"load average {os.getloadavg()}")
    for name, values in times.items():
        print(f"{name}: median {median[name]:.2f} s of {[round(v, 2) for v in values]}")
    print(f"speed-up: {median['before'] / median['after']:.1f}x, outputs equal bit for bit")


if __name__ == "__main__":
    main()
