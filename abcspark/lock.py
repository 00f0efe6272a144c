"""The lock of a checkpoint folder: ``lock.json``, which names the one run writing it.

:meth:`FolderLock.acquire` creates the file atomically (locally, on HDFS, and on S3 where the
connector makes conditional writes) and :meth:`FolderLock.release` removes it; another run is
refused, told whose it is. An owner on this host whose process has ended is taken over with a
warning; one on another host cannot be checked from here: its lock stays until deleted.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Optional, Tuple

log = logging.getLogger("abcspark")

LOCK_FILE = "lock.json"
_HELD: set = set()
"""Tokens of the locks this process's open checkpoints hold."""


class FolderLock:
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
