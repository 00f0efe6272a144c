"""A reference table written on the cluster, then queried for several datasets in one pass.

Usage: ``spark-submit table_cluster_job.py URI OUTPUT [--hold]``: writes (or completes) the table at
URI, then saves the 50 nearest rows of each of ``TABLE_OBSERVATIONS`` to OUTPUT as Parquet.
With ``--hold`` the write stops inside a job after two blocks (see ``HeldTable``) until the test
kills it.
"""

import sys

import pandas as pd
from cluster_models import TABLE_OBSERVATIONS, TABLE_SETTINGS, TABLE_SIZE, HeldTable
from pyspark.sql import SparkSession

from abcspark import Normal, Prior, ReferenceTable, TableRejectionABC, Uniform

PRIOR = Prior(mu=Normal(0.0, 2.0), sigma=Uniform(0.5, 1.5))


def main(uri: str, output: str, hold: bool) -> None:
    spark = SparkSession.builder.getOrCreate()
    print(f"application {spark.sparkContext.applicationId} on {spark.sparkContext.master}")
    simulate = HeldTable(uri if hold else "")
    table = ReferenceTable.simulate(PRIOR, simulate, TABLE_SIZE, uri, spark=spark, **TABLE_SETTINGS)
    observations = spark.createDataFrame(pd.DataFrame(TABLE_OBSERVATIONS))
    neighbours = TableRejectionABC(table).run_many(observations, 50)
    neighbours.frame.write.mode("overwrite").parquet(output)
    print("queried")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--hold" in sys.argv[3:])
