"""EMR step entry point: build, complete or extend a reference table at a URI.

Simulates ``--n`` prior draws of a model into a table (``ReferenceTable.simulate``), written
by the executors as Parquet under ``--uri``:

    spark-submit --deploy-mode client \\
        s3://my-abc-bucket/abcspark/artifacts/jobs/build_table.py \\
        --uri s3://my-abc-bucket/abcspark/results/tables/height --n 10000000 --seed 1

The same command completes a table whose run was killed (only missing blocks are written); a
larger ``--n`` extends it; other settings, another model or seed are refused. The model is
``--model MODULE:FUNCTION``, a function of no arguments that returns ``(prior, simulate, ...)``;
by default abcspark's height example. Ship a module of your own to every node with
spark-submit's ``--py-files s3://my-abc-bucket/abcspark/artifacts/jobs/mymodel.py`` and pass
``--model mymodel:problem``. Query the table with ``query_table.py``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Any, List, Optional, Tuple

PROG = "build_table.py"
DEFAULT_MODEL = "abcspark.examples:height_problem"


def parse(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The job's options (``--help`` lists them)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.splitlines()[0],
        epilog=f"example:\n  spark-submit {PROG} --n 1000000 --seed 1 \\\n"
        "      --uri s3://my-abc-bucket/abcspark/results/tables/height",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--uri", required=True, help="folder or URI of the table (s3://...)")
    parser.add_argument("--n", type=int, required=True, help="simulations the table holds")
    parser.add_argument("--seed", type=int, default=1, help="seed of all randomness (default 1)")
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"MODULE:FUNCTION returning (prior, simulate, ...) (default {DEFAULT_MODEL})",
    )
    parser.add_argument("--batch-size", type=int, help="draws per batch (default the table's)")
    parser.add_argument("--batches-per-block", type=int, help="batches per Parquet partition")
    parser.add_argument("--blocks-per-job", type=int, default=1, help="blocks per Spark job")
    parser.add_argument("--parallelism", type=int, help="partitions per Spark job")
    parser.add_argument("--statistics", help="comma-separated statistic column names")
    parser.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default="raise",
        help="a failing simulation stops the job, or is counted and skipped",
    )
    return parser.parse_args(argv)


def load_model(spec: str) -> Tuple[Any, Any]:
    """``(prior, simulate)`` from ``MODULE:FUNCTION``'s result."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(
            f"--model must be MODULE:FUNCTION (got {spec!r}); e.g. --model {DEFAULT_MODEL}."
        )
    try:
        factory = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(
            f"--model must name an importable function (got {spec!r}: {exc}); ship the module "
            "with spark-submit --py-files."
        ) from None
    found = factory()
    if not isinstance(found, (tuple, list)) or len(found) < 2:
        raise ValueError(
            f"--model's function must return (prior, simulate, ...) (got {type(found)}); "
            "return the prior and the simulator first."
        )
    return found[0], found[1]


def main(argv: Optional[List[str]] = None) -> None:
    """Build the table the options describe and print it."""
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    from abcspark import ReferenceTable, get_spark

    try:
        prior, simulate = load_model(args.model)
        statistics = None if args.statistics is None else args.statistics.split(",")
        table = ReferenceTable.simulate(
            prior,
            simulate,
            args.n,
            args.uri,
            seed=args.seed,
            spark=get_spark(),  # spark-submit's session, else an embedded local[*]
            batch_size=args.batch_size,
            statistics=statistics,
            batches_per_block=args.batches_per_block,
            blocks_per_job=args.blocks_per_job,
            parallelism=args.parallelism,
            on_error=args.on_error,
        )
    except (TypeError, ValueError) as exc:
        sys.exit(f"{PROG}: error: {exc}")
    print(table)


if __name__ == "__main__":
    main()
