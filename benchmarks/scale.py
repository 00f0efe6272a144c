"""Issues #9.4, #3 and #5: 1e8 cheap simulations of rejection ABC, time and driver memory.

Quantile mode keeps the 1,000 closest simulations whatever their number, so driver memory must
not grow with it. Each run is a fresh process that reports the peak resident set of its Python
driver and of its driver JVM: on embedded ``local[2]`` at 1e6, 1e7 and 1e8 simulations, and
on a standalone cluster (``abcspark.standalone.LocalCluster``: a master and two 1-core workers
on 127.0.0.1) at 1e6 and 1e8. The simulator is the cheapest there is, the conjugate Normal mean
(``abcspark.examples.NormalMean``: one draw per simulation), so the pipeline is what is timed.
"""

from __future__ import annotations

import os
from typing import List

from harness import Row, Target, peak_memory, run_case, spark_session, timed

KEEP = 1000
BATCH_SIZE = 100_000


def rejection_case(n_simulations: int, cluster: bool) -> dict:
    """The case (fresh process): one quantile-mode run on local[2] or on a LocalCluster."""
    from abcspark import RejectionABC
    from abcspark.examples import NormalMean
    from abcspark.standalone import LocalCluster

    model = NormalMean()
    cluster_ = LocalCluster(workers=2, cores=1, memory="1g") if cluster else None
    try:
        if cluster_ is not None:
            cluster_.start()
        spark = spark_session(cluster_.master_url if cluster_ else "local[2]")
        abc = RejectionABC(model.prior, model, batch_size=BATCH_SIZE, spark=spark, parallelism=2)
        abc.run([0.3], n_simulations=2 * BATCH_SIZE, quantile=0.01, seed=0)  # warm up
        quantile = KEEP / n_simulations
        seconds, posterior = timed(
            abc.run, [0.3], n_simulations=n_simulations, quantile=quantile, seed=1
        )
        result = {"seconds": seconds, "kept": len(posterior.samples), **peak_memory()}
        spark.stop()
    finally:
        if cluster_ is not None:
            cluster_.stop()
    return {**result, "load": os.getloadavg()[0]}


def section(quick: bool) -> tuple:
    local_sizes = [10**6, 10**7] if quick else [10**6, 10**7, 10**8]
    cluster_sizes = [] if quick else [10**6, 10**8]
    runs = {
        ("local[2]", n): run_case("scale.rejection_case", {"n_simulations": n, "cluster": False})
        for n in local_sizes
    }
    for n in cluster_sizes:
        runs[("standalone", n)] = run_case(
            "scale.rejection_case", {"n_simulations": n, "cluster": True}
        )
    rows: List[Row] = []
    for (where, n), r in runs.items():
        case = f"{where}, {n:.0e} sims, keep {KEEP}"
        rows.append(Row("scale", case, "wall time", r["seconds"], "s"))
        rows.append(Row("scale", case, "sims/s", n / r["seconds"]))
        rows.append(Row("scale", case, "driver Python peak RSS", r["python_mib"], "MiB"))
        rows.append(Row("scale", case, "driver JVM peak RSS", r["jvm_mib"], "MiB"))
    targets: List[Target] = []
    for where, sizes in (("local[2]", local_sizes), ("standalone", cluster_sizes)):
        if len(sizes) < 2:
            continue
        base = runs[(where, sizes[0])]
        for n in sizes[1:]:
            for side in ("python", "jvm"):
                ratio = runs[(where, n)][f"{side}_mib"] / base[f"{side}_mib"]
                name = f"scale: {where} driver {side} peak RSS, {n:.0e} / {sizes[0]:.0e} sims"
                targets.append(Target(name, ratio, 1.10, higher_is_better=False))
    if cluster_sizes:
        n = cluster_sizes[-1]
        ratio = runs[("local[2]", n)]["seconds"] / runs[("standalone", n)]["seconds"]
        rows.append(
            Row("scale", f"standalone vs local[2], {n:.0e} sims", "throughput ratio", ratio)
        )
    return rows, targets
