"""Per-generation checkpoints: a run interrupted anywhere resumes after its last whole generation.

Layout under the checkpoint path::

    run.json                  what problem this is (refused if a later call differs)
    generation-0003.parquet   particles: parameters, weight, distance
    generation-0003.json      the generation's history row; written last, it marks completion

Each file is written to a temporary name and renamed, so a killed driver leaves at worst an
unreferenced temporary file, never a half generation.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any, List, Optional, Tuple

import pandas as pd

from abcspark import storage

RUN_FILE = "run.json"
_GENERATION = re.compile(r"generation-(\d{4,})\.json$")


def _normalised(document: dict) -> dict:
    return json.loads(json.dumps(document, sort_keys=True, default=str))


class Checkpoint:
    """The saved generations of one run.

    Parameters
    ----------
    path : str
        Local folder or Hadoop-compatible URI (``s3://``, ``hdfs://``).
    problem : dict
        JSON-able description of everything that decides the result (prior, simulator name,
        distance, settings, seed, observed statistics).
    spark : pyspark.sql.SparkSession, optional
        Used for URIs.
    """

    def __init__(self, path: str, problem: dict, spark: Any = None):
        self.path = path
        self.problem = _normalised(problem)
        self.store = storage.for_path(path, spark)

    def open(self) -> None:
        """Start a new checkpoint, or check that an existing one holds this same problem.

        Raises
        ------
        ValueError
            If the checkpoint was written for another problem; the message names what differs.
        """
        if not self.store.exists(RUN_FILE):
            self.store.write(RUN_FILE, json.dumps(self.problem, indent=2, sort_keys=True).encode())
            return
        saved = json.loads(self.store.read(RUN_FILE))
        if saved != self.problem:
            differ = sorted(
                k for k in set(saved) | set(self.problem) if saved.get(k) != self.problem.get(k)
            )
            raise ValueError(
                f"checkpoint {self.path} must hold this same problem to resume (got a run that "
                f"differs in {', '.join(differ)}); pass a new checkpoint path, or delete the old "
                "one to start over."
            )

    def generations(self) -> List[int]:
        """Numbers of the complete generations saved, in order."""
        found = (_GENERATION.match(name) for name in self.store.names())
        return sorted(int(m.group(1)) for m in found if m)

    def save(self, generation: int, particles: pd.DataFrame, record: dict) -> None:
        """Save a finished generation: particles first, then the record that marks it whole."""
        buffer = io.BytesIO()
        particles.to_parquet(buffer, index=False)
        self.store.write(f"generation-{generation:04d}.parquet", buffer.getvalue())
        self.store.write(f"generation-{generation:04d}.json", json.dumps(record).encode())

    def load(self, generation: int) -> Tuple[pd.DataFrame, dict]:
        """The particles and record of a saved generation."""
        particles = pd.read_parquet(
            io.BytesIO(self.store.read(f"generation-{generation:04d}.parquet"))
        )
        record = json.loads(self.store.read(f"generation-{generation:04d}.json"))
        return particles, record

    def history(self) -> Tuple[Optional[int], List[dict]]:
        """The last complete generation (None if none) and the records of all of them."""
        done = self.generations()
        records = [json.loads(self.store.read(f"generation-{g:04d}.json")) for g in done]
        return (done[-1] if done else None), records
