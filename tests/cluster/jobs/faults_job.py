"""Fault scenarios in one cluster application: ``python faults_job.py MASTER OUTPUT NAME...``.

For each NAME of ``cluster_models.fault_scenario`` it runs PMCABC on the height problem and
writes OUTPUT/NAME/posterior (a saved Posterior), or OUTPUT/NAME/error.json (the error's type
and message and the seconds the run took to fail). Failure markers go to OUTPUT/NAME/markers.
"""

import json
import logging
import sys
import time
from pathlib import Path

from cluster_models import FAULT_SEED, SETTINGS, fault_scenario

from abcspark import PMCABC, get_spark
from abcspark.examples import height_problem


def main(master: str, output: str, names: list) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    spark = get_spark(master=master)
    print(f"application {spark.sparkContext.applicationId} on {spark.sparkContext.master}")
    prior, _, observed = height_problem()
    for name in names:
        folder = Path(output, name)
        markers = folder / "markers"
        markers.mkdir(parents=True)
        pmc = PMCABC(prior, **fault_scenario(name, str(markers)), **SETTINGS, spark=spark)
        started = time.perf_counter()
        try:
            posterior = pmc.run(observed, seed=FAULT_SEED)
        except Exception as exc:
            error = {"type": type(exc).__name__, "message": str(exc)}
            error["seconds"] = time.perf_counter() - started
            (folder / "error.json").write_text(json.dumps(error))
        else:
            posterior.save(str(folder / "posterior"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
