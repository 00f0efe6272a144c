"""Per-generation checkpoints: a run interrupted anywhere resumes after its last whole generation.

Layout under the checkpoint path::

    run.json                  what problem this is, and the format (refused if a later call differs)
    lock.json                 the run writing the folder now: host, pid, token, start time
    generation-0003.parquet   particles: parameters, weight, distance (and statistics if kept)
    generation-0003.json      the generation's history row; written last, it marks completion

Each file appears whole or not at all (:mod:`abcspark.storage`): a killed driver leaves at worst
a temporary file (the next run removes it), never a half generation. One run writes a folder at
a time: :meth:`Checkpoint.open` takes the folder's lock (:mod:`abcspark.lock`), and
:meth:`Checkpoint.close` releases it.
"""

from __future__ import annotations

import io
import json
import logging
import re
import weakref
from typing import Any, List, Optional, Tuple

import pandas as pd

from abcspark import storage
from abcspark.history import GenerationRecord
from abcspark.lock import FolderLock

log = logging.getLogger("abcspark")

RUN_FILE = "run.json"
_GENERATION = re.compile(r"generation-(\d{4,})\.json$")


def _normalised(document: dict) -> dict:
    return json.loads(json.dumps(document, sort_keys=True, default=str))


def _differences(saved: dict, problem: dict) -> List[str]:
    """The keys whose values differ, with a dict's own differing keys in brackets:
    ``["seed", "settings (recycle)"]``."""
    names = []
    for key in sorted(set(saved) | set(problem)):
        old, new = saved.get(key), problem.get(key)
        if old != new and isinstance(old, dict) and isinstance(new, dict):
            inner = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            names.append(f"{key} ({', '.join(inner)})")
        elif old != new:
            names.append(key)
    return names


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

    Notes
    -----
    :meth:`open` locks the folder for this run; :meth:`close` releases it when the run ends,
    finished or failed (or, failing that, when the object is collected or Python exits).
    """

    def __init__(self, path: str, problem: dict, spark: Any = None):
        self.path = path
        self.problem = _normalised({**problem, "format": storage.FORMAT_VERSION})
        self.store = storage.for_path(path, spark)
        self._lock = FolderLock(self.store, str(path).rstrip("/"))

    def open(self) -> None:
        """Lock the folder for this run, then start a new checkpoint or check the saved one.

        Raises
        ------
        ValueError
            If another run holds the folder (the message names it and what to do), if the
            checkpoint was written for another problem or by another format (the message names
            what differs), or holds generations without its ``run.json``.
        """
        self._lock.acquire()
        weakref.finalize(self, self._lock.release, True)  # a no-op once closed
        try:
            self._check()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the folder's lock, so that another run may write it; safe to call again."""
        self._lock.release()

    def _check(self) -> None:
        names = set(self.store.names())
        for name in names:  # what killed writes left; a copy set aside only if the file is back
            found = storage.leftover(name)
            if found and (found[1] != "old" or found[0] in names):
                self.store.delete(name)
        if not self.store.exists(RUN_FILE):
            if self.generations():
                raise ValueError(
                    f"checkpoint {self.path} must hold its {RUN_FILE} to resume (got generation "
                    "files without it, so nothing says which problem they belong to); pass a "
                    "new checkpoint path, or delete the folder to start over."
                )
            self.store.write(RUN_FILE, json.dumps(self.problem, indent=2, sort_keys=True).encode())
            return
        saved = storage.read_json(self.store, RUN_FILE, self.path)
        storage.check_format(saved, self.path)
        if saved != self.problem:
            differ = _differences(saved, self.problem)
            raise ValueError(
                f"checkpoint {self.path} must hold this same problem to resume (got a run that "
                f"differs in {', '.join(differ)}); pass a new checkpoint path, or delete the old "
                "one to start over."
            )

    def generations(self) -> List[int]:
        """Numbers of the complete generations saved, in order."""
        found = (_GENERATION.match(name) for name in self.store.names())
        return sorted(int(m.group(1)) for m in found if m)

    def save(self, generation: int, particles: pd.DataFrame, record: GenerationRecord) -> None:
        """Save a finished generation: particles first, then the record that marks it whole
        (``ValueError`` if the checkpoint is not open, or another run took its lock over)."""
        self._lock.confirm()
        buffer = io.BytesIO()
        particles.to_parquet(buffer, index=False)
        self.store.write(f"generation-{generation:04d}.parquet", buffer.getvalue())
        self.store.write(f"generation-{generation:04d}.json", json.dumps(record.to_dict()).encode())

    def load(self, generation: int) -> Tuple[pd.DataFrame, GenerationRecord]:
        """The particles and record of a saved generation."""
        name = f"generation-{generation:04d}.parquet"
        try:
            particles = pd.read_parquet(io.BytesIO(self.store.read(name)))
        except Exception as exc:
            raise ValueError(
                f"checkpoint {self.path} must hold a readable {name} (got {type(exc).__name__}: "
                f"{exc}); the file is damaged: delete the folder to start over."
            ) from exc
        return particles, self._record(generation)

    def _record(self, generation: int) -> GenerationRecord:
        name = f"generation-{generation:04d}.json"
        document = storage.read_json(self.store, name, self.path)
        try:
            return GenerationRecord.from_dict(document)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"checkpoint {self.path}: {name}: {exc}") from None

    def resume(
        self, earlier: bool = False
    ) -> Tuple[Optional[pd.DataFrame], List[GenerationRecord], List[pd.DataFrame]]:
        """The last complete generation's particles (None if none), every record, and with
        ``earlier`` the particles of the generations before the last (else none).

        Raises
        ------
        ValueError
            If a generation is missing before the last one (the run cannot be continued).
        """
        done = self.generations()
        if not done:
            return None, [], []
        if done != list(range(len(done))):
            missing = sorted(set(range(done[-1] + 1)) - set(done))
            raise ValueError(
                f"checkpoint {self.path} must hold generations 0 to {done[-1]} to resume (got "
                f"{missing} missing); delete the folder to start over."
            )
        records = [self._record(g) for g in done]
        population, _ = self.load(done[-1])
        log.info("resuming from %s after generation %d", self.path, done[-1])
        return population, records, [self.load(g)[0] for g in done[:-1] if earlier]
