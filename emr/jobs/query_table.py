"""EMR step entry point: answer many observed datasets from a reference table in one pass.

Reads a Parquet or CSV file (or folder) of observed datasets, one row each: an id column and
the table's statistic columns. Finds each dataset's ``--n-samples`` nearest table rows in one
Spark job (``TableRejectionABC.run_many``) and saves them under ``--output``
(``Neighbours.save``):

    spark-submit --deploy-mode client \\
        s3://my-abc-bucket/abcspark/artifacts/jobs/query_table.py \\
        --table s3://my-abc-bucket/abcspark/results/tables/height \\
        --observations s3://my-abc-bucket/abcspark/results/sites.parquet \\
        --output s3://my-abc-bucket/abcspark/results/height-sites/ --n-samples 1000

The output is Parquet, ``<id>, rank, distance, batch, index``, parameters and statistics
(``n_samples`` rows per id), readable by any Spark or pandas job; in Python,
``Neighbours.load(output).posterior_for(id)`` gives one dataset's ``Posterior``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, List, Optional

PROG = "query_table.py"
DISTANCES = ("euclidean", "manhattan", "scaled_euclidean")


def parse(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The job's options (``--help`` lists them)."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--table", required=True, help="URI of a table build_table.py wrote")
    parser.add_argument("--observations", required=True, help="Parquet or CSV of datasets")
    parser.add_argument("--output", required=True, help="folder or URI for the neighbours")
    parser.add_argument("--n-samples", type=int, default=1000, help="rows kept per dataset")
    parser.add_argument("--id-column", default="id", help="the datasets' id column (default id)")
    parser.add_argument(
        "--distance",
        choices=DISTANCES,
        default="euclidean",
        help="scaled_euclidean: each statistic scaled by its spread in the table's first rows",
    )
    parser.add_argument("--n-simulations", type=int, help="use only the table's first rows")
    parser.add_argument(
        "--format",
        choices=("parquet", "csv"),
        help="of --observations (default: csv if it ends in .csv, else parquet)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace what is at --output")
    return parser.parse_args(argv)


def read_observations(spark: Any, uri: str, form: Optional[str]) -> Any:
    """The datasets as a Spark DataFrame (a CSV with a header row; its types inferred)."""
    if (form or ("csv" if uri.rstrip("/").lower().endswith(".csv") else "parquet")) == "csv":
        return spark.read.csv(uri, header=True, inferSchema=True)
    return spark.read.parquet(uri)


def main(argv: Optional[List[str]] = None) -> None:
    """Answer the datasets the options name and save their neighbours."""
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    from pyspark.errors import AnalysisException  # a missing input, an output already there

    from abcspark import ReferenceTable, TableRejectionABC, get_spark

    spark = get_spark()  # spark-submit's session, else an embedded local[*]
    try:
        table = ReferenceTable.open(args.table, spark)
        observations = read_observations(spark, args.observations, args.format)
        neighbours = TableRejectionABC(table, args.distance).run_many(
            observations,
            args.n_samples,
            id_column=args.id_column,
            n_simulations=args.n_simulations,
        )
        try:
            neighbours.save(args.output, mode="overwrite" if args.overwrite else "errorifexists")
        finally:
            neighbours.close()
    except (AnalysisException, TypeError, ValueError) as exc:
        sys.exit(f"{PROG}: error: {str(exc).splitlines()[0]}")
    print(f"{neighbours}: saved to {args.output}")


if __name__ == "__main__":
    main()
