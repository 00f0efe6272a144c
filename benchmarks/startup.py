"""Issue 16: a fresh process's time to the posterior, phase by phase, beside pyABC's.

Run from the repository root with the project's virtual environment::

    .venv/bin/python benchmarks/startup.py            # 300 and 1,000 particles, 3 repetitions
    .venv/bin/python benchmarks/startup.py --quick    # 300 particles, 1 repetition

Every case is a fresh Python process (``case.py``), launched by this script, which passes the
launch time (``time.time()``) so that a case reports its time from process start:

- ``timeline``: the height problem's PMC with each start-up phase forced on its own, one after
  the other, so that each can be timed: the interpreter and abcspark's imports, pyspark's
  import, the JVM's start, the session, the first query (planned and run by the JVM alone),
  the first Python job (the workers start and import pandas and pyarrow), the driver's own
  work in ``run`` (dry run, pilot, the posterior), each generation, and the plot.
- ``fresh``: the same PMC as a user runs it: nothing forced, the time from process start to
  the posterior, and to the end of the plot; also with Java's default JIT, with every round
  through ``mapInPandas`` (small rounds' RDD jobs off, as before 2026-12-02's change), and
  with none of the start-up changes (archive, warm-up, quick JIT, RDD jobs: "before").
- pyABC 0.13's ``ABCSMC`` with its multicore sampler (2 processes) in a fresh process, given
  abcspark's epsilon schedule (``peer_pyabc.pmc``), so both reach the same final epsilon with
  the same population: its time from process start to its posterior.
- ``main job``: the README's first command after install, ``python -m abcspark --output DIR``,
  timed around the process.

The cases alternate (abcspark, pyABC, main job, ...) so that the shared machine's load falls
on all alike; the figures are medians. Writes ``benchmarks/out/startup.json`` and prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

from harness import OUT, ROOT, environment, median, peer_python, run_case

MASTER = "local[2]"


def _mark(marks: List[list], phase: str) -> None:
    marks.append([phase, time.time()])


def _phases(launched: float, marks: List[list]) -> Dict[str, float]:
    """Seconds per phase, from the launch time and the ``[phase, end time]`` marks."""
    phases, last = {}, launched
    for phase, at in marks:
        phases[phase] = at - last
        last = at
    return phases


def _pmc(spark, n_particles: int, generations: int):
    from abcspark import PMCABC
    from abcspark.examples import height_problem

    prior, model, observed = height_problem()
    pmc = PMCABC(
        prior, model, n_particles=n_particles, generations=generations, spark=spark, progress=False
    )
    return pmc, observed


def timeline(
    launched: float,
    n_particles: int,
    generations: int,
    seed: int,
    archive: bool = True,
    jit: bool = True,
) -> dict:
    """Each start-up phase forced and timed on its own, then the run, then the plot."""
    marks: List[list] = []
    _mark(marks, "interpreter, benchmark harness")
    import abcspark  # noqa: F401
    from abcspark.examples import height_problem  # noqa: F401

    _mark(marks, "import abcspark")
    _choose(archive, warm=False, jit=jit, rdd=archive, workers=archive)  # first Python job alone
    from pyspark.sql import SparkSession  # noqa: F401

    from abcspark import jvm_archive
    from abcspark.jvm_jit import jit_options
    from abcspark.session import get_spark, java_executable
    from abcspark.warm_up import warm_up

    _mark(marks, "import pyspark")
    jvm_archive.launch(java_executable(), jit_options())  # as get_spark launches it
    _mark(marks, "JVM start")

    spark = get_spark(master=MASTER)
    spark.sparkContext.setLogLevel("ERROR")
    _mark(marks, "SparkSession")
    spark.range(0, 4, 1, 2).count()
    _mark(marks, "first query (JVM only)")
    (warm_up if archive else _arrow_warm_up)(spark).join()  # the warm-up job, waited for
    _mark(marks, "first Python job (workers, pandas)")
    pmc, observed = _pmc(spark, n_particles, generations)
    started = time.time()
    posterior = pmc.run(observed, seed=seed)
    ended = time.time()
    in_generations = float(posterior.history["seconds"].sum())
    marks.append(["run: driver outside generations", started + (ended - started) - in_generations])
    for g, seconds in enumerate(posterior.history["seconds"]):
        marks.append([f"run: generation {g}", marks[-1][1] + float(seconds)])
    with tempfile.TemporaryDirectory() as folder:
        posterior.plot(str(Path(folder) / "posterior.png"))
    _mark(marks, "plot (imports matplotlib)")
    spark.stop()
    return {"phases": _phases(launched, marks), "n_simulations": posterior.n_simulations}


def _choose(archive: bool, warm: bool, jit: bool, rdd: bool = True, workers: bool = True) -> None:
    """Turn the archive, the warm-up, the quick JIT, small rounds' RDD jobs and the workers'
    settings (the compiled daemon, Unix domain sockets) on or off here.

    Without RDD jobs every round runs through ``mapInPandas`` and the warm-up is a
    ``mapInPandas`` job too, as they were before 2026-12-02; without the workers' settings they
    start from Spark's zipped pyspark and talk TCP, as before 2026-12-03.
    """
    import abcspark.engines.spark
    import abcspark.session

    os.environ["ABCSPARK_JVM_ARCHIVE"] = "1" if archive else "0"
    os.environ["ABCSPARK_JVM_JIT"] = "quick" if jit else "full"
    if not rdd:
        abcspark.engines.spark.ARROW_FROM = 0
        abcspark.session.warm_up = _arrow_warm_up
    if not warm:
        abcspark.session.warm_up = lambda spark: None
    if not workers:
        abcspark.session.worker_settings = lambda: {}


def _arrow_warm_up(spark) -> threading.Thread:
    """The warm-up as it was before small rounds ran as RDD jobs: one ``mapInPandas`` job."""

    def job():
        slots = spark.sparkContext.defaultParallelism
        spark.range(0, slots, 1, slots).mapInPandas(_no_rows, "id long").collect()

    thread = threading.Thread(target=job, daemon=True)
    thread.start()
    return thread


def _no_rows(frames):
    for frame in frames:
        yield frame.iloc[:0]


def fresh(
    launched: float,
    n_particles: int,
    generations: int,
    seed: int,
    archive: bool = True,
    warm: bool = True,
    jit: bool = True,
    cache: Optional[str] = None,
    rdd: bool = True,
    workers: bool = True,
) -> dict:
    """The PMC as a user runs it in a fresh process: time to the posterior and to the plot.

    ``archive=False, warm=False, jit=False, rdd=False, workers=False`` is the start-up before
    issue 16 (no class archive, the workers started by the first generation, Java's default
    JIT, every round through ``mapInPandas``, the workers from Spark's zipped pyspark over TCP);
    ``cache``, an empty folder, is a machine's first run, which records the archive.
    """
    _choose(archive, warm, jit, rdd, workers)
    if cache is not None:
        os.environ["XDG_CACHE_HOME"] = cache
    from abcspark.session import get_spark

    spark = get_spark(master=MASTER)
    spark.sparkContext.setLogLevel("ERROR")
    pmc, observed = _pmc(spark, n_particles, generations)
    posterior = pmc.run(observed, seed=seed)
    to_posterior = time.time() - launched
    with tempfile.TemporaryDirectory() as folder:
        posterior.plot(str(Path(folder) / "posterior.png"))
    to_plot = time.time() - launched
    epsilons = [float(e) if e != float("inf") else None for e in posterior.history["epsilon"]]
    spark.stop()
    return {
        "to_posterior": to_posterior,
        "to_plot": to_plot,
        "n_simulations": posterior.n_simulations,
        "epsilons": epsilons,
    }


def main_job() -> float:
    """Seconds of ``python -m abcspark --output DIR`` in a fresh process (the README's job)."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "abcspark", "--output", folder],
            capture_output=True,
            text=True,
            env=environment(),
            cwd=ROOT,
        )
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"the main job must succeed; its stderr ends:\n{done.stderr[-3000:]}")
    return seconds


def compare(n_particles: int, generations: int, repeats: int, pyabc: str) -> dict:
    """abcspark fresh, pyABC fresh and the main job, alternating; one timeline first."""
    settings = {"n_particles": n_particles, "generations": generations, "seed": 1}
    timelines = {
        archive: run_case(
            "startup.timeline",
            {"launched": time.time(), "archive": archive, "jit": archive, **settings},
        )["phases"]
        for archive in (False, True)
    }
    with tempfile.TemporaryDirectory() as cache:
        first = run_case("startup.fresh", {"launched": time.time(), "cache": cache, **settings})
    runs: Dict[str, list] = {
        "abcspark": [],
        "before": [],
        "full JIT": [],
        "all arrow": [],
        "tcp": [],
        "pyabc": [],
        "main job": [],
    }
    for rep in range(repeats):
        ours = run_case("startup.fresh", {"launched": time.time(), **settings})
        runs["abcspark"].append(ours)
        before = {"archive": False, "warm": False, "jit": False, "rdd": False, "workers": False}
        before["launched"] = time.time()
        runs["before"].append(run_case("startup.fresh", {**before, **settings}))
        full = {"launched": time.time(), "jit": False, **settings}
        runs["full JIT"].append(run_case("startup.fresh", full))
        arrow = {"launched": time.time(), "rdd": False, **settings}
        runs["all arrow"].append(run_case("startup.fresh", arrow))
        tcp = {"launched": time.time(), "workers": False, **settings}
        runs["tcp"].append(run_case("startup.fresh", tcp))
        peer = {"heights": _heights(), "epsilons": ours["epsilons"], "n_particles": n_particles}
        runs["pyabc"].append(
            run_case("peer_pyabc.pmc", {**peer, "seed": rep + 1, "launched": time.time()}, pyabc)
        )
        runs["main job"].append(main_job())
    ours_alike = ("abcspark", "before", "full JIT", "all arrow", "tcp")
    for run in [run for name in ours_alike for run in runs[name]] + [first]:
        if (run["epsilons"], run["n_simulations"]) != (ours["epsilons"], ours["n_simulations"]):
            raise RuntimeError("the start-up changes must not change the run (got another one)")
    return {
        "n_particles": n_particles,
        "generations": generations,
        "timeline": timelines[True],
        "timeline_before": timelines[False],
        "abcspark_to_posterior": median([r["to_posterior"] for r in runs["abcspark"]]),
        "before_to_posterior": median([r["to_posterior"] for r in runs["before"]]),
        "full_jit_to_posterior": median([r["to_posterior"] for r in runs["full JIT"]]),
        "all_arrow_to_posterior": median([r["to_posterior"] for r in runs["all arrow"]]),
        "tcp_to_posterior": median([r["to_posterior"] for r in runs["tcp"]]),
        "first_to_posterior": first["to_posterior"],
        "first_process": first["process_seconds"],
        "abcspark_to_plot": median([r["to_plot"] for r in runs["abcspark"]]),
        "abcspark_simulations": runs["abcspark"][0]["n_simulations"],
        "pyabc_to_posterior": median([r["to_posterior"] for r in runs["pyabc"]]),
        "pyabc_simulations": runs["pyabc"][0]["n_simulations"],
        "main_job": median(runs["main job"]),
        "runs": runs,
    }


def _heights() -> list:
    from abcspark.examples import height_observations

    return height_observations().tolist()


def report(results: List[dict]) -> str:
    heads = [f"{r['n_particles']:,}: {when}" for r in results for when in ("before", "now")]
    lines = ["| phase | " + " | ".join(heads) + " |", "| --- |" + " ---: |" * len(heads)]
    for phase in results[0]["timeline"]:
        cells = [
            f"{r[key].get(phase, float('nan')):.2f} s"
            for r in results
            for key in ("timeline_before", "timeline")
        ]
        lines.append(f"| {phase} | " + " | ".join(cells) + " |")
    lines += ["", "| case | " + " | ".join(f"{r['n_particles']:,}" for r in results) + " |"]
    lines.append("| --- |" + " ---: |" * len(results))
    for name, key in (
        (
            "abcspark before (no archive, no warm-up), process start to posterior",
            "before_to_posterior",
        ),
        (
            "abcspark, a machine's first run (records the archive), to posterior",
            "first_to_posterior",
        ),
        (
            "abcspark, a machine's first run, whole process (writes the archive at exit)",
            "first_process",
        ),
        (
            "abcspark with Java's default JIT (ABCSPARK_JVM_JIT=full), to posterior",
            "full_jit_to_posterior",
        ),
        (
            "abcspark with every round through mapInPandas (as before 2026-12-02), to posterior",
            "all_arrow_to_posterior",
        ),
        (
            "abcspark with its workers from Spark's zipped pyspark, over TCP (as before "
            "2026-12-03), to posterior",
            "tcp_to_posterior",
        ),
        ("abcspark, process start to posterior", "abcspark_to_posterior"),
        ("abcspark, process start to plot", "abcspark_to_plot"),
        ("pyABC multicore, process start to posterior", "pyabc_to_posterior"),
        ("README main job (1,000 particles, 6 generations), whole process", "main_job"),
    ):
        lines.append(f"| {name} | " + " | ".join(f"{r[key]:.2f} s" for r in results) + " |")
    ratios = [r["abcspark_to_posterior"] / r["pyabc_to_posterior"] for r in results]
    lines.append("| abcspark / pyABC | " + " | ".join(f"{x:.2f}" for x in ratios) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 particles, 1 repetition")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    sizes, repeats = ([300], 1) if args.quick else ([300, 1000], args.repeats)
    pyabc = peer_python("pyabc")
    results = [compare(n, 5, repeats, pyabc) for n in sizes]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "startup.json").write_text(json.dumps(results, indent=1))
    print(report(results))


if __name__ == "__main__":
    main()
