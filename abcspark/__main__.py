"""``python -m abcspark``: PMC-ABC on the height example of ABCpy's ``pmcabc_gaussian``.

Runs on the embedded ``local[*]`` Spark by default, or on ``--master``; the same file runs
unchanged under ``spark-submit`` (then the submitted session is used). Prints the posterior and
the history, writes the plot and saves the posterior (Parquet + JSON) under ``--output``,
which may be a local folder or a Hadoop URI such as ``s3://bucket/prefix``.

Every argument and every place it writes is checked before Spark starts (a URI's folder as soon
as Spark is up, before the first generation), so a typo costs seconds, not a whole run.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import tempfile
import uuid
from typing import Any, List, NoReturn, Optional
from urllib.parse import urlparse

from abcspark import storage
from abcspark.algorithms import PMCABC
from abcspark.examples import height_problem
from abcspark.session import check_master, get_spark, ui_choice
from abcspark.validation import positive_int

PROG = "python -m abcspark"
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:/+[^/\s]\S*")


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (no usage block above them)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options of the main job, checked (exit 2 with one line if one is wrong)."""
    parser = _Parser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=1000, help="particles per generation")
    parser.add_argument("--generations", type=int, default=6, help="most generations")
    parser.add_argument("--seed", type=int, default=1, help="seed of all randomness")
    parser.add_argument("--output", default="results", help="folder or URI for plot and posterior")
    parser.add_argument(
        "--master", default=None, help="Spark master URL (default: active or local[*])"
    )
    parser.add_argument("--parallelism", type=int, default=None, help="partitions per Spark job")
    parser.add_argument("--checkpoint", default=None, help="checkpoint folder or URI (resumable)")
    parser.add_argument(
        "--ui",
        action="store_const",
        const=True,
        default=None,
        help="Spark's web UI, on 127.0.0.1 only (also ABCSPARK_UI=1; off by default)",
    )
    args = parser.parse_args(argv)
    try:
        check(args)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    return args


def check(args: argparse.Namespace) -> None:
    """Raise ``ValueError`` for the first wrong option; create and try the local outputs."""
    positive_int("--particles", args.particles, "1000")
    positive_int("--generations", args.generations, "6")
    if args.parallelism is not None:
        positive_int("--parallelism", args.parallelism, "4")
    if args.seed < 0:
        raise ValueError(f"--seed must be a non-negative int (got {args.seed}); e.g. --seed 1.")
    if args.master is not None:
        check_master(args.master, "--master")
    ui_choice(args.ui)
    for name, path in _outputs(args):
        if _is_local(path):
            _try_writing(name, path, None)
        elif not _URI.fullmatch(path):
            raise ValueError(
                f"{name} must be a local folder or a URI such as s3://bucket/prefix (got "
                f"{path!r}); e.g. {name} s3://bucket/prefix, or ./name for a local folder whose "
                "name has a colon."
            )


def _outputs(args: argparse.Namespace) -> List[tuple]:
    """(option, folder) of every folder the job writes to."""
    found = [("--output", args.output), ("--output", f"{args.output.rstrip('/')}/posterior")]
    if args.checkpoint is not None:
        found.append(("--checkpoint", args.checkpoint))
    return found


def _is_local(path: str) -> bool:
    scheme = urlparse(path).scheme
    return scheme in ("", "file") or len(scheme) == 1  # as storage.for_path decides


def _try_writing(name: str, path: str, spark: Any) -> None:
    """Write and delete a small file in ``path`` (creating it), as the run will write there."""
    probe = f".abcspark-write-check-{uuid.uuid4().hex}"
    try:
        store = storage.for_path(path, spark)
        store.write(probe, b"")
        store.delete(probe)
    except ValueError as exc:
        if str(exc).startswith("path must"):  # storage's own sentence, about this option
            raise ValueError(f"{name}{str(exc)[len('path') :]}") from None
        raise
    except Exception as exc:
        raise ValueError(
            f"{name} must be a folder this job can write (got {path!r}: {_reason(exc)}); "
            f"choose another {name}, e.g. {name} results."
        ) from None


def _reason(exc: BaseException) -> str:
    """The first line of an error, Java's own message for one raised in the JVM."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(getattr(exc, "java_exception", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0]


def fail(message: str) -> NoReturn:
    """Stop with one line on standard error and exit status 1."""
    raise SystemExit(f"{PROG}: error: {message}")


def start_spark(args: argparse.Namespace) -> Any:
    """The session to run on, or one line saying why Spark did not start."""
    try:
        spark = get_spark(master=args.master, ui=args.ui)
    except (ImportError, OSError, ValueError) as exc:
        fail(str(exc))
    except Exception as exc:
        where = args.master or "local[*] (or spark-submit's master)"
        fail(
            f"Spark must start on {where} (got {type(exc).__name__}: {_reason(exc)}); check "
            "--master and the Spark log above, or leave --master out for the embedded local[*]."
        )
    try:
        for name, path in _outputs(args):
            if not _is_local(path):
                _try_writing(name, path, spark)
    except ValueError as exc:
        # Stopped here, silently, so that the error stays the last line: the workers' warm-up
        # job may be launching a task, which a stop at the process's exit would log.
        spark.sparkContext.setLogLevel("OFF")
        spark.stop()
        fail(str(exc))
    return spark


def main(argv: Optional[List[str]] = None) -> None:
    """Run the demo inference and report it."""
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    prior, simulate, observed = height_problem()
    # Built before Spark starts, so its own checks come first; run() then uses the session
    # started below, which is the active one.
    try:
        pmc = PMCABC(
            prior,
            simulate,
            n_particles=args.particles,
            generations=args.generations,
            parallelism=args.parallelism,
        )
    except (TypeError, ValueError) as exc:
        fail(str(exc))
    spark = start_spark(args)
    posterior = pmc.run(observed, seed=args.seed, checkpoint=args.checkpoint)
    print(posterior)
    print(posterior.history.to_string(index=False, float_format="{:.4g}".format))
    posterior.save(f"{args.output.rstrip('/')}/posterior", spark, overwrite=True)
    store = storage.for_path(args.output, spark)
    with tempfile.TemporaryDirectory() as folder:
        png = os.path.join(folder, "posterior.png")
        posterior.plot(png)
        with open(png, "rb") as handle:
            store.write("posterior.png", handle.read())
    print(f"wrote {args.output.rstrip('/')}/posterior.png and {args.output.rstrip('/')}/posterior/")


if __name__ == "__main__":
    main()
