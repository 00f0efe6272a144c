"""The per-partition search of run_many, without Spark: chunked, pruned, and still exactly the
rows a full sort by (distance, batch, index) keeps, whatever the chunks and arrival order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from abcspark import table_search
from abcspark.distances import Euclidean
from abcspark.table_search import Search

K = 7


def rows(n: int = 600, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stats = rng.integers(0, 5, (n, 2)).astype(float)  # few values: many equal distances
    stats[rng.choice(n, 9, replace=False), 1] = np.nan  # a failed simulation is never kept
    frame = pd.DataFrame(
        {
            "batch": np.arange(n) // 20,
            "index": np.arange(n) % 20,
            "theta": rng.normal(size=n),
            "s0": stats[:, 0],
            "s1": stats[:, 1],
        }
    )
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def expected(table: pd.DataFrame, observed: np.ndarray, keys: list, within: float) -> list:
    """Per observation, every row within ``within`` in ``keys`` order, by a full sort."""
    found = []
    for one in observed:
        scored = table.assign(distance=Euclidean()(table[["s0", "s1"]].to_numpy(), one))
        scored = scored[scored["distance"] <= within]
        found.append(scored.sort_values(keys, kind="mergesort"))
    return found


@pytest.mark.parametrize("cells", [1, 13, 50, 10_000])
@pytest.mark.parametrize("mode", ["k", "until", "epsilon"])
def test_the_search_keeps_exactly_the_rows_a_full_sort_keeps(monkeypatch, cells, mode):
    monkeypatch.setattr(table_search, "CELLS", cells)  # chunks of that many rows
    table = rows()
    observed = np.array([[2.0, 2.0], [0.0, 4.0], [4.5, 0.5], [9.0, 9.0]])
    k, epsilon, keys = {
        "k": (K, np.inf, ["distance", "batch", "index"]),
        "until": (K, 2.5, ["batch", "index"]),
        "epsilon": (None, 1.5, ["distance", "batch", "index"]),
    }[mode]
    search = Search(
        observed, np.array([10, 11, 12, 13]), ["s0", "s1"], Euclidean(), k, epsilon, mode != "until"
    )
    parts = []  # three partitions, each in frames of at most 37 rows and an empty one
    for start in (0, 200, 400):
        frames = [table.iloc[i : min(i + 37, start + 200)] for i in range(start, start + 200, 37)]
        parts.append(search.frames(iter([table.iloc[:0], *frames])))
    merged = search.merge(pd.concat([frame for part in parts for frame in part]))
    for id, want in zip([10, 11, 12, 13], expected(table, observed, keys, epsilon)):
        want = want if k is None else want.head(k)
        got = merged[merged["id"] == id]
        np.testing.assert_array_equal(got[["batch", "index"]], want[["batch", "index"]])
        np.testing.assert_array_equal(got["distance"], want["distance"])
        np.testing.assert_array_equal(got["theta"], want["theta"])
        assert got["rank"].tolist() == list(range(1, len(want) + 1))


def test_a_partition_keeps_at_most_k_rows_per_observation(monkeypatch):
    monkeypatch.setattr(table_search, "CELLS", 25)
    table = rows(2000, 3)
    observed = np.array([[1.0, 1.0], [3.0, 2.0]])
    search = Search(observed, np.array([0, 1]), ["s0", "s1"], Euclidean(), K)
    frames = [table.iloc[i : i + 100] for i in range(0, len(table), 100)]
    (found,) = list(search.frames(iter(frames)))
    assert found.groupby("id").size().tolist() == [K, K]  # though hundreds tie at the k-th


@pytest.mark.parametrize("cells", [1, 10_000])
def test_counts_are_every_row_within_epsilon_whatever_k_and_the_rows_after_an_index(
    monkeypatch, cells
):
    """One partition in frames of 37 rows: within epsilon 2.5 of (2, 2) by a full count, not
    the ``k`` kept, and the rows whose index is after 12 (7 of every 20, 210 of 600)."""
    monkeypatch.setattr(table_search, "CELLS", cells)
    table = rows()
    search = Search(np.array([[2.0, 2.0]]), np.array([0]), ["s0", "s1"], Euclidean(), K, 2.5, False)
    frames = [table.iloc[i : i + 37] for i in range(0, len(table), 37)]
    (counts,) = list(search.counts(12, iter(frames)))
    within = len(expected(table, search.observed, ["batch", "index"], 2.5)[0])
    assert within > K
    assert counts.to_dict("records") == [{"within": within, "after": 210}]
