"""Per-generation checkpoints: a run interrupted anywhere resumes after its last whole generation.

Layout under the checkpoint path::

    run.json                  what problem this is, and the format (refused if a later call differs)
    lock.json                 the run writing the folder now: host, pid, token, start time
    generation-0003.parquet   particles: parameters, weight, distance (and statistics if kept)
    generation-0003.json      the generation's history row; written last, it marks completion

Each file appears whole or not at all (:mod:`abcspark.storage`): a killed driver leaves at worst
a temporary file (the next run removes it), never a half generation. One run writes a folder at
a time: :meth:`Checkpoint.open` creates ``lock.json`` atomically (locally, on HDFS, and on S3
where the connector makes conditional writes) and :meth:`Checkpoint.close` removes it; another
run is refused, told whose it is. An owner on this host whose process has ended is taken over
with a warning; one on another host cannot be checked from here: its lock stays until deleted.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import socket
import time
import uuid
import weakref
from datetime import datetime, timezone
from typing import Any, List, Optional, Tuple

import pandas as pd

from abcspark import storage
from abcspark.history import GenerationRecord

log = logging.getLogger("abcspark")

RUN_FILE = "run.json"
LOCK_FILE = "lock.json"
_GENERATION = re.compile(r"generation-(\d{4,})\.json$")
_HELD: set = set()
"""Tokens of the locks this process's open checkpoints hold."""


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

    Notes
    -----
    :meth:`open` locks the folder for this run; :meth:`close` releases it when the run ends,
    finished or failed (or, failing that, when the object is collected or Python exits).
    """

    def __init__(self, path: str, problem: dict, spark: Any = None):
        self.path = path
        self.problem = _normalised({**problem, "format": storage.FORMAT_VERSION})
        self.store = storage.for_path(path, spark)
        self._lock = _Lock(self.store, str(path).rstrip("/"))

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

    def resume(self) -> Tuple[Optional[pd.DataFrame], List[GenerationRecord]]:
        """The last complete generation's particles (None if none) and every record.

        Raises
        ------
        ValueError
            If a generation is missing before the last one (the run cannot be continued).
        """
        done = self.generations()
        if not done:
            return None, []
        if done != list(range(len(done))):
            missing = sorted(set(range(done[-1] + 1)) - set(done))
            raise ValueError(
                f"checkpoint {self.path} must hold generations 0 to {done[-1]} to resume (got "
                f"{missing} missing); delete the folder to start over."
            )
        records = [self._record(g) for g in done]
        population, _ = self.load(done[-1])
        log.info("resuming from %s after generation %d", self.path, done[-1])
        return population, records


class _Lock:
    """``lock.json`` of a checkpoint folder, and whether this object holds it."""

    def __init__(self, store: Any, path: str):
        self.store, self.path, self.held = store, path, False
        self.token = uuid.uuid4().hex

    def acquire(self) -> None:
        """Create the lock file, taking over one whose owner has ended; refuse a live owner."""
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        mine = dict(host=socket.gethostname(), pid=os.getpid(), token=self.token, started=started)
        mine.update(process=(_process(os.getpid()) or (None, None))[1])
        _HELD.add(self.token)  # first: another thread of this process may read the file at once
        for _ in range(20):
            if self.store.create(LOCK_FILE, json.dumps(mine).encode()):
                self.held = True
                return
            owner = _owner(self.store)
            if owner is None:  # released meanwhile, or still being written (HDFS)
                time.sleep(0.05)
            elif not _ended(owner):
                break
            elif self._remove(owner["token"]):
                log.warning("checkpoint %s: %s has ended; lock taken over", self.path, _who(owner))
        _HELD.discard(self.token)
        raise ValueError(
            f"checkpoint {self.path} must be written by one run at a time (got it locked by "
            f"{_who(_owner(self.store))}); wait for that run to end, or, if it is no longer "
            f"running, delete {self.path}/{LOCK_FILE} and run again."
        )

    def confirm(self) -> None:
        """Check, before a write, that this run still holds the lock."""
        if not self.held:
            raise ValueError(
                f"checkpoint {self.path} must be opened before saving (got save() before "
                "open()); call open() first, as run() does."
            )
        owner = _owner(self.store)
        if owner is None or owner.get("token") != self.token:
            raise ValueError(
                f"checkpoint {self.path} must stay locked by this run while it saves (got "
                f"{_who(owner)} holding it); another run took the folder over: let it finish, "
                "and rerun this one with another checkpoint path."
            )

    def release(self, quiet: bool = False) -> None:
        """Remove the lock file if this object holds it (``quiet``: ignore errors, at exit)."""
        try:
            if self.held and not self._remove(self.token):
                log.warning("checkpoint %s: %s names another run; left it", self.path, LOCK_FILE)
        except Exception:
            if not quiet:
                raise
        finally:
            self.held = False
            _HELD.discard(self.token)

    def _remove(self, token: str) -> bool:
        """Remove the lock file if it names ``token``: moved aside and checked there first, so
        that a lock another run made meanwhile is put back, never deleted."""
        aside = f".{LOCK_FILE}.{uuid.uuid4().hex}.gone"
        if not self.store.rename(LOCK_FILE, aside):
            return False
        ours = (_owner(self.store, aside) or {}).get("token") == token
        if not ours:
            self.store.create(LOCK_FILE, self.store.read(aside))
        self.store.delete(aside)
        return ours


def _owner(store: Any, name: str = LOCK_FILE) -> Optional[dict]:
    """The lock's owner: None if there is no lock or it is empty, {} if it is unreadable."""
    try:
        data = store.read(name)
        owner = json.loads(data) if data else None
    except FileNotFoundError:
        return None
    except ValueError:
        return {}
    return owner if owner is None or isinstance(owner, dict) else {}


def _who(owner: Optional[dict]) -> str:
    if not owner or not isinstance(owner.get("token"), str):
        return f"{'an empty' if owner is None else 'an unreadable'} {LOCK_FILE}"
    mine = (owner.get("host"), owner.get("pid")) == (socket.gethostname(), os.getpid())
    return f"pid {owner.get('pid')} on host {owner.get('host')}, started {owner.get('started')}" + (
        " (this process)" if mine else ""
    )


def _ended(owner: dict) -> bool:
    """Whether the owner ran on this host and its process has ended (or its pid is reused)."""
    pid, token = owner.get("pid"), owner.get("token")
    if owner.get("host") != socket.gethostname() or not isinstance(token, str):
        return False
    if pid == os.getpid():
        return token not in _HELD
    if not isinstance(pid, int) or pid <= 0 or os.name == "nt":  # os.kill would end it there
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        pass
    state, started = _process(pid) or (None, None)
    recorded = owner.get("process")
    return state in ("Z", "X") or None not in (started, recorded) and started != recorded


def _process(pid: int) -> Optional[Tuple[str, int]]:
    """State and start time (clock ticks after boot) of a process, from Linux's /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return fields[0].decode(), int(fields[19])
    except (OSError, IndexError, ValueError):
        return None
