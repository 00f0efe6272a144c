"""A progress display per generation, in a terminal or in Jupyter (not log lines).

In Jupyter it is one output, redrawn in place after each generation: a progress bar over the
run's generations and a table of the generations so far. In a terminal (the pyspark shell, a
script) it is one line rewritten with a carriage return. Elsewhere (spark-submit logs, CI) it is
off by default; the ``abcspark`` logger still writes one INFO line per generation.
"""

from __future__ import annotations

import html
import sys
from typing import Any, List, Optional

from abcspark.callbacks import Callback
from abcspark.history import GenerationRecord

COLUMNS = (
    ("generation", "generation", "{:d}"),
    ("epsilon", "epsilon", "{:.4g}"),
    ("acceptance_rate", "acceptance", "{:.2%}"),
    ("n_simulations", "simulations", "{:,d}"),
    ("ess", "ESS", "{:,.0f}"),
    ("seconds", "seconds", "{:.1f}"),
)


def _in_jupyter() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class Progress(Callback):
    """Show generation, epsilon, acceptance rate, simulations and time left, updated in place.

    Parameters
    ----------
    total : int
        The most generations the run may take.
    enabled : bool, optional
        Default: on in Jupyter and when standard error is a terminal.
    title : str, default 'abcspark'
        The algorithm's name, shown in the Jupyter display.
    budget : int, optional
        A run that goes on until its budget is spent: the bar and the time left follow the
        simulations used out of it instead of the generations.

    Examples
    --------
    >>> progress = Progress(4, enabled=False)
    >>> record = GenerationRecord(generation=0, epsilon=float("inf"), n_proposals=1000,
    ...     n_simulations=1000, acceptance_rate=1.0, ess=1000.0, n_failed=0, n_discarded=0,
    ...     seconds=2.0)
    >>> progress.on_generation(record)
    >>> print(progress.line())  # doctest: +NORMALIZE_WHITESPACE
    [#####               ] generation 1/4  epsilon inf  acceptance 100.00%
    simulations 1,000  2 s, ~6 s left
    >>> spending = Progress(10**6, enabled=False, budget=4000)
    >>> spending.on_generation(record)
    >>> print(spending.line())  # doctest: +NORMALIZE_WHITESPACE
    [#####               ] generation 1, 1,000 of 4,000 simulations  epsilon inf
    acceptance 100.00%  simulations 1,000  2 s, ~6 s left
    """

    def __init__(
        self,
        total: int,
        enabled: Optional[bool] = None,
        title: str = "abcspark",
        budget: Optional[int] = None,
    ):
        jupyter = _in_jupyter()
        if enabled is None:
            enabled = jupyter or sys.stderr.isatty()
        self.total, self.enabled, self.jupyter, self.title = total, enabled, jupyter, title
        self.budget = budget
        self.records: List[GenerationRecord] = []
        self.finished = False
        self._handle: Any = None

    @property
    def seconds(self) -> float:
        """Seconds spent in the generations so far (including those resumed from a checkpoint)."""
        return float(sum(r.seconds for r in self.records))

    def remaining(self) -> float:
        """Seconds left if each remaining generation takes as long as the last one.

        A rough guide: later PMC generations usually take longer (epsilon falls), while a
        stopping rule (``min_epsilon``, ...) may end the run early.
        """
        if not self.records:
            return float("nan")
        if self.budget is not None:
            used = self.used
            return self.seconds * (self.budget - used) / used if used else float("nan")
        return self.records[-1].seconds * (self.total - len(self.records))

    @property
    def used(self) -> int:
        """Simulations run so far, the discarded ones included."""
        return int(sum(r.n_simulations + r.n_discarded for r in self.records))

    def share(self) -> float:
        """The share of the run done: of its budget, or of its generations."""
        if self.finished:
            return 1.0
        if self.budget is not None:
            return min(self.used / self.budget, 1.0)
        return len(self.records) / self.total

    def _position(self) -> str:
        done = len(self.records)
        if self.budget is None:
            return f"generation {done}/{self.total}"
        return f"generation {done}, {self.used:,} of {self.budget:,} simulations"

    def line(self) -> str:
        """One line of text: the bar, the last generation's figures and the time."""
        bar = "#" * round(20 * self.share())
        text = f"[{bar:<20}] {self._position()}"
        if self.records:
            last = self.records[-1]
            text += (
                f"  epsilon {last.epsilon:.4g}  acceptance {last.acceptance_rate:.2%}  "
                f"simulations {last.n_simulations:,}"
            )
        text += f"  {self.seconds:.0f} s"
        if self.finished:
            return text + ", done"
        return text + f", ~{self.remaining():.0f} s left"

    def html(self) -> str:
        """The Jupyter display: a progress bar and a table with one row per generation."""
        done = len(self.records)
        status = (
            f"done: {done} generation(s), {self.seconds:.1f} s of sampling"
            if self.finished
            else f"{self._position()}, {self.seconds:.1f} s, "
            f"~{self.remaining():.0f} s left at the last generation's pace"
        )
        head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in COLUMNS)
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(fmt.format(getattr(r, key)))}</td>" for key, _, fmt in COLUMNS
            )
            + "</tr>"
            for r in self.records
        )
        value, maximum = (done, done if self.finished else self.total)
        if self.budget is not None:
            value, maximum = (self.used, self.used if self.finished else self.budget)
        return (
            f'<div class="abcspark-progress"><b>{html.escape(self.title)}</b> '
            f'<progress value="{value}" max="{maximum}" style="width: 16em"></progress> '
            f"{html.escape(status)}"
            f'<table style="margin-top: 0.3em"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div>"
        )

    def on_generation(self, record: GenerationRecord) -> None:
        """Redraw with the record of the generation that just ended."""
        self.records.append(record)
        self._draw()

    def on_run_end(self, posterior: Optional[Any]) -> None:
        """Mark the run finished (the bar fills even if it stopped early) and end the line."""
        self.finished = True
        self._draw()
        if self.enabled and not self.jupyter:
            sys.stderr.write("\n")
            sys.stderr.flush()

    def _draw(self) -> None:
        if not self.enabled:
            return
        if self.jupyter:
            from IPython.display import display

            bundle = {"text/plain": self.line(), "text/html": self.html()}
            if self._handle is None:
                self._handle = display(bundle, raw=True, display_id=True)
            else:
                self._handle.update(bundle, raw=True)
        else:
            sys.stderr.write(f"\r{self.line()}")
            sys.stderr.flush()
