"""PMC-ABC on the height problem with slow simulations, for the kill tests.

Usage: ``spark-submit pmc_job.py OUTPUT SECONDS [CHECKPOINT]``: each batch sleeps SECONDS on
the executors; the posterior is saved to OUTPUT/posterior. Each finished generation logs
"PMCABC generation G: ..." to stderr, which the tests watch to act mid-generation.
"""

import logging
import sys
from pathlib import Path

from cluster_models import SEED, SETTINGS, SlowHeights
from pyspark.sql import SparkSession

from abcspark import PMCABC
from abcspark.examples import height_problem


def main(output: str, seconds: float, checkpoint: str = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    spark = SparkSession.builder.getOrCreate()
    print(f"application {spark.sparkContext.applicationId} on {spark.sparkContext.master}")
    prior, _, observed = height_problem()
    pmc = PMCABC(prior, SlowHeights(seconds), **SETTINGS, spark=spark)
    posterior = pmc.run(observed, seed=SEED, checkpoint=checkpoint)
    posterior.save(str(Path(output, "posterior")))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), *sys.argv[3:4])
