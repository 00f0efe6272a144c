"""A deterministic and an executor-only failure on ``local[1,3]`` (three attempts per task).

``python retry_job.py MARKERS``: prints one JSON line per case with the error's type and
message; the simulators touch MARKERS/<case>-attempt-<n>-<pid> on each failing call.
"""

import json
import os
import sys
from pathlib import Path

from abcspark import RejectionABC, get_spark
from abcspark.engines import SparkEngine
from abcspark.examples import NormalMean

MODEL = NormalMean(prior_mean=0.0, prior_sd=2.0, sd=1.0, n_obs=10)
MARKERS = Path(sys.argv[1])


class Fails:
    """Raises on executors, for far-out mu (``everywhere``) or for every batch (executors only)."""

    def __init__(self, case):
        self.case = case

    def __call__(self, theta, rng):
        from pyspark import TaskContext

        context = TaskContext.get()
        far = (theta[:, 0] > 6.5).any()
        if context is not None and (far or self.case == "executors_only"):
            attempt = context.attemptNumber()
            (MARKERS / f"{self.case}-attempt-{attempt}-{os.getpid()}").touch()
            raise ValueError("mu is too far out" if far else "an executor's library is broken")
        if far and self.case == "everywhere":
            raise ValueError("mu is too far out")
        return MODEL(theta, rng)


spark = get_spark(master="local[1,3]")
for path, arrow_from in (("rdd", None), ("arrow", 0)):  # a small round's path, and mapInPandas
    for case in ("everywhere", "executors_only"):
        engine = SparkEngine(spark, arrow_from=arrow_from)
        abc = RejectionABC(MODEL.prior, Fails(case), batch_size=100, engine=engine)
        try:
            abc.run([0.8], quantile=0.01, n_simulations=100_000, seed=1)
        except Exception as exc:
            message = {"type": type(exc).__name__, "message": str(exc)}
            print(json.dumps({"case": f"{case}-{path}", **message}))
spark.stop()
