"""What a reference table records, and how a rerun is checked against it.

``_abcspark_table.json`` holds the settings that decide a table's bits (seed, batch size,
batches per block, names, prior, ``on_error``), the simulator's fingerprint, and the batches
wanted. A rerun that completes or extends the table must agree on all but the batches, and may
only ask for more of them.
"""

from __future__ import annotations

import json
import math
from typing import Any, List, Optional, Sequence

import numpy as np

from abcspark import storage
from abcspark.batch import SimulationError
from abcspark.distances import Distance
from abcspark.dry_run import fingerprint
from abcspark.problem import DRY_RUN_SIZE, Problem, versions
from abcspark.rng import PILOT, batch_rng
from abcspark.rows import RESERVED

METADATA = "_abcspark_table.json"
IDENTITY = ("seed", "batch_size", "batches_per_block", "names", "statistics", "prior", "on_error")
"""Settings a rerun must share with the table it completes or extends (and the fingerprint)."""
TAKEN = ("block", "id", "rank", *RESERVED)
"""Column names that parameters and statistics cannot take."""
ROWS_PER_BLOCK = 1_000_000
"""Default simulations per block: a Parquet partition of tens of MB."""


class ZeroDistance(Distance):
    """Every simulation at distance 0: a table keeps them all (epsilon is inf)."""

    def _distance(self, stats: np.ndarray, observed: np.ndarray) -> np.ndarray:
        return np.zeros(len(stats))


def table_settings(
    problem: Problem, seed: int, n: int, statistics: Optional[Sequence[str]]
) -> dict:
    """The dry run on the driver, and what a table written now would record."""
    if problem.process_per_model > 1 or not problem.vectorized:
        raise ValueError(
            "simulate must be a plain vectorized simulator for a reference table (got a "
            "nested or per-parameter one); write the table with a vectorized simulate."
        )
    rng = batch_rng(seed, 0, 0, stream=PILOT)  # the dry run's draws, to learn k
    theta = problem.prior.sample(DRY_RUN_SIZE, rng)
    try:
        outputs = np.asarray(problem.simulate(theta.copy(), rng), dtype=np.float64)
    except Exception as exc:
        raise SimulationError(
            f"simulate raised {type(exc).__name__}: {exc} in the dry run on the driver, at "
            f"parameters {theta.tolist()}; fix the simulator for these parameters."
        ) from exc
    if outputs.ndim != 2:
        raise ValueError(
            f"simulate must return shape (n, k) (got {outputs.shape}); return one row of "
            "summary statistics per parameter row."
        )
    k = outputs.shape[1]
    names = statistic_columns(statistics, k, problem.prior.names)
    problem.prepare(np.zeros(k), seed)  # the checks every run makes, on the same draws
    return {
        "seed": seed,
        "n_batches_for": n,
        "batch_size": problem.batch_size,
        "names": list(problem.prior.names),
        "statistics": names,
        "prior": problem.prior.to_dict(),
        "on_error": problem.on_error,
        "simulate": problem.settings()["simulate"]["name"],
        "fingerprint": fingerprint(problem.simulate, outputs),
        "bounds": problem.prior.bounds().tolist(),
        "discrete": list(problem.prior.discrete_names),
    }


def statistic_columns(given: Optional[Sequence[str]], k: int, names: List[str]) -> List[str]:
    found = [f"stat_{j}" for j in range(k)] if given is None else [str(s) for s in given]
    if len(found) != k:
        raise ValueError(
            f"statistics must name the k = {k} statistics simulate returns (got {len(found)}: "
            f"{found}); pass one name per column."
        )
    clash = sorted(set(found) & set(TAKEN)) + sorted(set(found) & set(names))
    clash += sorted({s for s in found if found.count(s) > 1 or s.startswith("_")})
    clash += sorted(set(names) & {"block", "id", "rank"})
    if clash:
        raise ValueError(
            f"statistic and parameter names must be unique, not start with '_' and not be one "
            f"of {TAKEN} (got {clash}); rename them."
        )
    return found


def record(plan: dict, existing: dict, uri: str) -> dict:
    """The metadata to record: ``plan`` resolved against the table already at ``uri``."""
    n = plan.pop("n_batches_for")
    size = plan["batch_size"] or existing.get("batch_size") or max(1, min(1000, n // 10))
    plan["batch_size"] = size
    if "batches_per_block" not in plan:
        plan["batches_per_block"] = existing.get(
            "batches_per_block", max(1, ROWS_PER_BLOCK // size)
        )
    document = json.loads(json.dumps(plan, default=storage.json_default))
    document["n_batches"] = math.ceil(n / size)
    if existing:
        _check_same(existing, document, uri)
    document.update(format=storage.FORMAT_VERSION, kind="abcspark reference table")
    document["versions"] = versions()
    document.pop("blocks_per_job", None)
    return document


def _check_same(existing: dict, document: dict, uri: str) -> None:
    storage.check_format(existing, f"{uri}/{METADATA}")
    for key in IDENTITY:
        if existing.get(key) != document[key]:
            raise ValueError(
                f"{key} must be the table's to complete or extend it (got {document[key]!r}, "
                f"the table at {uri} has {existing.get(key)!r}); pass the table's {key}, or "
                "write to another uri."
            )
    if existing.get("fingerprint") != document["fingerprint"]:
        raise ValueError(
            f"simulate must be the simulator the table at {uri} was written with (got "
            f"fingerprint {document['fingerprint']}, the table has "
            f"{existing.get('fingerprint')}); its code or its outputs differ: pass the same "
            "simulator, or write to another uri."
        )
    if document["n_batches"] < existing["n_batches"]:
        raise ValueError(
            f"n must be at least the table's {existing['n_batches'] * existing['batch_size']:,} "
            f"simulations (got {document['n_batches'] * document['batch_size']:,}); a table "
            "only grows: open it with ReferenceTable.open, or use n_simulations= to infer on "
            "its first batches."
        )


def read_metadata(uri: str, spark: Any) -> Optional[dict]:
    store = storage.for_path(uri, spark)
    if not store.exists(METADATA):
        return None
    document = storage.read_json(store, METADATA, uri)
    storage.check_format(document, f"{uri}/{METADATA}")
    return document
