"""The expensive simulator's cost: spin on this thread's CPU clock."""

from __future__ import annotations

import time


def burn(seconds: float) -> None:
    """Use ``seconds`` of this thread's CPU time (waiting for a core does not count)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
