"""A progress display per generation, in a terminal or in Jupyter (not log lines)."""

from __future__ import annotations

import sys
import time
from typing import Any, Optional


def _in_jupyter() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class Progress:
    """Show generation, epsilon, acceptance rate, simulations and an ETA, updated in place.

    Parameters
    ----------
    total : int
        The most generations the run may take.
    enabled : bool, optional
        Default: on in Jupyter and when standard error is a terminal.
    """

    def __init__(self, total: int, enabled: Optional[bool] = None):
        jupyter = _in_jupyter()
        if enabled is None:
            enabled = jupyter or sys.stderr.isatty()
        self.total, self.enabled, self.jupyter = total, enabled, jupyter
        self.started = time.perf_counter()
        self._handle: Any = None

    def line(self, record: dict) -> str:
        """The text shown after a generation ends."""
        done = record["generation"] + 1
        elapsed = time.perf_counter() - self.started
        eta = elapsed / done * (self.total - done)
        bar = "#" * round(20 * done / self.total)
        return (
            f"[{bar:<20}] generation {done}/{self.total}  epsilon {record['epsilon']:.4g}  "
            f"acceptance {record['acceptance_rate']:.2%}  simulations {record['n_simulations']:,}"
            f"  elapsed {elapsed:.0f} s  ETA <= {eta:.0f} s"
        )

    def update(self, record: dict) -> None:
        """Redraw with the record of the generation that just ended."""
        if not self.enabled:
            return
        text = self.line(record)
        if self.jupyter:
            from IPython.display import Pretty, display

            if self._handle is None:
                self._handle = display(Pretty(text), display_id=True)
            else:
                self._handle.update(Pretty(text))
        else:
            sys.stderr.write(f"\r{text}")
            sys.stderr.flush()

    def close(self) -> None:
        """End the terminal line."""
        if self.enabled and not self.jupyter:
            sys.stderr.write("\n")
