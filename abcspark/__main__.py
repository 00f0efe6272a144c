"""``python -m abcspark``: PMC-ABC on the height example of ABCpy's ``pmcabc_gaussian``.

Runs on the embedded ``local[*]`` Spark by default, or on ``--master``; the same file runs
unchanged under ``spark-submit`` (then the submitted session is used). Prints the posterior and
the history, writes the plot and saves the posterior (Parquet + JSON) under ``--output``,
which may be a local folder or a Hadoop URI such as ``s3://bucket/prefix``.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from typing import List, Optional

from abcspark import storage
from abcspark.algorithms import PMCABC
from abcspark.examples import height_problem
from abcspark.session import get_spark


def parse(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options of the main job."""
    parser = argparse.ArgumentParser(prog="python -m abcspark", description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=1000, help="particles per generation")
    parser.add_argument("--generations", type=int, default=6, help="most generations")
    parser.add_argument("--seed", type=int, default=1, help="seed of all randomness")
    parser.add_argument("--output", default="results", help="folder or URI for plot and posterior")
    parser.add_argument(
        "--master", default=None, help="Spark master URL (default: active or local[*])"
    )
    parser.add_argument("--parallelism", type=int, default=None, help="partitions per Spark job")
    parser.add_argument("--checkpoint", default=None, help="checkpoint folder or URI (resumable)")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    """Run the demo inference and report it."""
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    spark = get_spark(master=args.master)
    prior, simulate, observed = height_problem()
    pmc = PMCABC(
        prior,
        simulate,
        n_particles=args.particles,
        generations=args.generations,
        parallelism=args.parallelism,
        spark=spark,
    )
    posterior = pmc.run(observed, seed=args.seed, checkpoint=args.checkpoint)
    print(posterior)
    print(posterior.history.to_string(index=False, float_format="{:.4g}".format))
    posterior.save(f"{args.output.rstrip('/')}/posterior", spark)
    store = storage.for_path(args.output, spark)
    with tempfile.TemporaryDirectory() as folder:
        png = os.path.join(folder, "posterior.png")
        posterior.plot(png)
        with open(png, "rb") as handle:
            store.write("posterior.png", handle.read())
    print(f"wrote {args.output.rstrip('/')}/posterior.png and {args.output.rstrip('/')}/posterior/")


if __name__ == "__main__":
    main()
