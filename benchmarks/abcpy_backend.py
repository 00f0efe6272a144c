"""Speed-up of abcspark's ABCpy backend over ABCpy's own BackendSpark, in one run.

ABCpy 0.6.3's PMCABC runs the pmcabc_gaussian problem (ABCpy's example: 67 heights, mu ~ U(150,
200), sigma ~ U(5, 25), Identity(degree=2) statistics, 10 simulated heights per parameter, seed
1) with the Euclidean distance (the example's LogReg needs glmnet, a Fortran build). Both
backends get the same SparkContext and parallelism, and run alternately; since the same seed
gives the same journal on both (checked), the work is identical and only the time differs.

Rows: the example as its script runs it (one generation of 250 particles), three generations,
and many small generations, where fixed costs per job and per broadcast weigh more. Then the
two costs the backends differ in: one broadcast, and one parallelize-map-collect round. Each
figure is the median of --repeats runs, the backends' order alternating; the machine's load
average is recorded with them, since only their ratio means anything.

Usage: python benchmarks/abcpy_backend.py [--repeats 2] [--master local[2]]
Runs in ABCpy's virtual environment; from any other Python it creates that environment with
benchmarks/setup_abcpy.sh and starts again there. Prints a table and writes
benchmarks/out/abcpy_backend.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    # name: (steps, n_samples, epsilon_percentile)
    "example: 1 generation of 250": (1, 250, 10),
    "3 generations of 60": (3, 60, 50),
    "8 generations of 25": (8, 25, 70),
}
EPSILON_INIT = 11000.0  # about the median Euclidean distance of prior predictive draws


def ensure_abcpy() -> None:
    """Start again in ABCpy's virtual environment unless this Python has ABCpy."""
    try:
        import abcpy  # noqa: F401
    except ImportError:
        setup = subprocess.run(
            ["bash", str(ROOT / "benchmarks" / "setup_abcpy.sh")],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        python = setup.stdout.strip().splitlines()[-1]
        os.environ["PYSPARK_PYTHON"] = python
        os.execv(python, [python, *sys.argv])


def pmcabc(backend, steps: int, n_samples: int, percentile: float):
    import numpy as np
    from abcpy.continuousmodels import Normal, Uniform
    from abcpy.distances import Euclidean
    from abcpy.inferences import PMCABC
    from abcpy.statistics import Identity

    from abcspark.examples import height_observations

    mu = Uniform([[150], [200]], name="mu")
    sigma = Uniform([[5], [25]], name="sigma")
    height = Normal([mu, sigma], name="height")
    distance = Euclidean(Identity(degree=2, cross=False))
    sampler = PMCABC([height], [distance], backend, seed=1)
    observed = [height_observations().tolist()]
    started = time.perf_counter()
    journal = sampler.sample(observed, steps, np.array([EPSILON_INIT]), n_samples, 10, percentile)
    return time.perf_counter() - started, journal


def fixed_costs(backends: dict, repeats: int) -> list:
    """Seconds per broadcast of 250 parameter rows, and per round of 8 trivial elements."""
    import numpy as np

    rows = []
    for what, work in (
        ("one broadcast (250 x 2 floats)", lambda b: b.broadcast(np.arange(500.0).reshape(250, 2))),
        ("parallelize-map-collect of 8", lambda b: b.collect(b.map(abs, b.parallelize(range(8))))),
    ):
        seconds = {}
        for name, backend in backends.items():
            times = []
            for _ in range(5 * repeats):
                started = time.perf_counter()
                work(backend)
                times.append(time.perf_counter() - started)
            seconds[name] = statistics.median(times)
        rows.append({"case": what, "simulations": 0, **seconds})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    ensure_abcpy()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    import numpy as np
    import pyspark
    from abcpy.backends import BackendSpark as ABCpyBackend

    from abcspark.abcpy_backend import BackendSpark

    conf = pyspark.SparkConf().setMaster(args.master).set("spark.ui.enabled", "false")
    conf = conf.set("spark.ui.showConsoleProgress", "false").set("spark.driver.host", "127.0.0.1")
    sc = pyspark.SparkContext(conf=conf)
    sc.setLogLevel("ERROR")
    backends = {"abcpy": ABCpyBackend(sc, parallelism=4), "abcspark": BackendSpark(sc, 4)}
    for backend in backends.values():  # Python workers started, ABCpy imported in them
        pmcabc(backend, 1, 8, 50)
    rows = []
    for case, (steps, n_samples, percentile) in CASES.items():
        times = {name: [] for name in backends}
        journals = {}
        for repeat in range(args.repeats):
            order = list(backends) if repeat % 2 == 0 else list(backends)[::-1]
            for name in order:
                seconds, journals[name] = pmcabc(backends[name], steps, n_samples, percentile)
                times[name].append(seconds)
        same = np.array_equal(
            np.asarray(journals["abcpy"].get_accepted_parameters(), dtype=float),
            np.asarray(journals["abcspark"].get_accepted_parameters(), dtype=float),
        )
        if not same:
            raise SystemExit(f"{case}: the two backends gave different journals")
        simulations = int(journals["abcspark"].number_of_simulations[-1])
        rows.append(
            {"case": case, "simulations": simulations, "runs": times}
            | {name: statistics.median(values) for name, values in times.items()}
        )
    rows += fixed_costs(backends, args.repeats)
    sc.stop()
    for row in rows:
        row["speedup"] = row["abcpy"] / row["abcspark"]
    print(f"{'case':34} {'simulations':>11} {'ABCpy s':>9} {'abcspark s':>10} {'speed-up':>8}")
    for row in rows:
        print(
            f"{row['case']:34} {row['simulations']:>11} {row['abcpy']:>9.3f} "
            f"{row['abcspark']:>10.3f} {row['speedup']:>7.2f}x"
        )
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "abcspark.abcpy_backend.BackendSpark vs abcpy.backends.BackendSpark",
        "master": args.master,
        "parallelism": 4,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "versions": {"pyspark": pyspark.__version__, "numpy": np.__version__},
        "rows": rows,
    }
    (out / "abcpy_backend.json").write_text(json.dumps(document, indent=2))
    print(f"wrote {out / 'abcpy_backend.json'}")


if __name__ == "__main__":
    main()
