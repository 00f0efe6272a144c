"""The progress display: its text and HTML, the terminal line, and when it is on.

Its Jupyter path (one display redrawn in place) is checked in a real kernel by
tests/test_notebooks.py.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import replace

from abcspark import PMCABC, GenerationRecord
from abcspark.examples import height_problem
from abcspark.progress import Progress


def record(generation, seconds=2.0):
    return GenerationRecord(
        generation=generation,
        epsilon=float("inf") if generation == 0 else 10.0 / generation,
        n_proposals=1000 * (generation + 1),
        n_simulations=1000 * (generation + 1),
        acceptance_rate=1.0 / (generation + 1),
        ess=480.4,
        n_failed=0,
        n_discarded=0,
        seconds=seconds,
    )


def test_line_shows_the_last_generation_and_the_time_left():
    progress = Progress(5, enabled=False)
    progress.on_generation(record(0, seconds=1.0))
    progress.on_generation(record(1, seconds=3.0))
    line = progress.line()
    assert line.startswith("[" + "#" * 8 + " " * 12 + "] generation 2/5")
    assert "epsilon 10  acceptance 50.00%  simulations 2,000" in line
    # 4 s so far; 3 generations left at the last one's 3 s each.
    assert line.endswith("4 s, ~9 s left")
    assert progress.remaining() == 9.0


def test_a_run_until_its_budget_shows_the_simulations_spent_of_it():
    progress = Progress(10**6, enabled=False, budget=12_000)
    progress.on_generation(record(0, seconds=1.0))  # 1,000 simulations
    progress.on_generation(record(1, seconds=3.0))  # 2,000 more, and 1,000 discarded
    progress.records[-1] = replace(progress.records[-1], n_discarded=1000)
    line = progress.line()
    assert line.startswith("[" + "#" * 7 + " " * 13 + "] generation 2, 4,000 of 12,000 simulations")
    assert line.endswith("4 s, ~8 s left")  # 4 s bought 4,000; 8,000 left
    assert '<progress value="4000" max="12000"' in progress.html()
    assert "generation 2, 4,000 of 12,000 simulations, 4.0 s" in progress.html()


def test_closing_early_fills_the_bar_and_says_done():
    progress = Progress(5, enabled=False)
    progress.on_generation(record(0))
    progress.on_generation(record(1))
    progress.on_run_end(None)
    assert progress.line().startswith("[" + "#" * 20 + "] generation 2/5")
    assert progress.line().endswith(", done")
    assert '<progress value="2" max="2"' in progress.html()
    assert "done: 2 generation(s), 4.0 s of sampling" in progress.html()


def test_html_has_a_bar_and_one_row_per_generation():
    progress = Progress(4, enabled=False)
    for g in range(3):
        progress.on_generation(record(g))
    page = progress.html()
    assert '<progress value="3" max="4"' in page
    rows = re.findall(r"<tr>(.*?)</tr>", page.split("<tbody>")[1])
    assert len(rows) == 3
    cells = re.findall(r"<td>(.*?)</td>", rows[2])
    assert cells == ["2", "5", "33.33%", "3,000", "480", "2.0"]
    assert re.findall(r"<td>(.*?)</td>", rows[0])[1] == "inf"


def test_terminal_line_is_rewritten_in_place(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    progress = Progress(3, enabled=True)
    progress.on_generation(record(0))
    progress.on_generation(record(1))
    progress.on_run_end(None)
    written = stream.getvalue()
    assert written.count("\r") == 3 and written.endswith(", done\n")
    assert written.count("\n") == 1
    assert "generation 1/3" in written and "generation 2/3" in written


def test_disabled_writes_nothing(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    progress = Progress(3, enabled=False)
    progress.on_generation(record(0))
    progress.on_run_end(None)
    assert stream.getvalue() == ""


def test_default_is_on_in_a_terminal_and_off_in_a_pipe(monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert Progress(3).enabled is False
    leader, follower = os.openpty()
    try:
        with open(follower, "w", closefd=False) as terminal:
            monkeypatch.setattr("sys.stderr", terminal)
            assert Progress(3).enabled is True
    finally:
        os.close(follower)
        os.close(leader)


def test_pmc_run_reports_each_generation_once(monkeypatch):
    generations = 3
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    prior, simulate, observed = height_problem()
    PMCABC(
        prior,
        simulate,
        n_particles=100,
        generations=generations,
        engine="numpy",
        progress=True,
    ).run(observed, seed=1)
    updates = stream.getvalue().split("\r")[1:]
    assert [u.split("] ")[1].split("  ")[0] for u in updates] == [
        f"generation {g}/{generations}" for g in (1, 2, 3, 3)
    ]
    assert updates[-1].endswith(", done\n")
