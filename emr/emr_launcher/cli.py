"""Command line of ``python emr/launch.py``: upload, create, submit, fetch, terminate.

Every command takes ``--dry-run`` (print the uploads and API requests, call nothing) and
``--endpoint-url`` (send the calls elsewhere, e.g. to a local moto server).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import re
import shlex
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from emr_launcher import aws, spec

EXAMPLE = """example (names from the outputs of emr/cloudformation/cluster.yaml):
  python emr/launch.py create --bucket my-abc-bucket --subnet subnet-0example \\
      --service-role SERVICE_ROLE --instance-profile INSTANCE_PROFILE \\
      --security-configuration SECURITY_CONFIGURATION --log-kms-key KEY_ARN \\
      --wheel dist/abcspark-0.1.0-py3-none-any.whl --fetch results/
"""


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", help="AWS region (default: the AWS configuration's)")
    parser.add_argument("--endpoint-url", help="AWS endpoint for every call, e.g. a moto server")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the uploads and requests; make no AWS call"
    )


def add_layout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bucket", required=True, help="bucket for artifacts, logs, results")
    for kind in ("artifacts", "logs", "results"):
        parser.add_argument(f"--{kind}-prefix", default=getattr(spec.Layout, f"{kind}_prefix"))


def add_run(parser: argparse.ArgumentParser) -> None:
    default_name = datetime.datetime.now(datetime.timezone.utc).strftime("height-pmc-%Y%m%d-%H%M%S")
    parser.add_argument("--run-name", default=default_name, help="results go to RESULTS/RUN_NAME/")
    parser.add_argument(
        "--job",
        choices=sorted(spec.JOBS),
        default="run_height_pmc",
        help="the step: the main job, check_cluster to compare the nodes' Pythons, or a "
        "reference-table job (build_table, query_table) with --job-args",
    )
    parser.add_argument(
        "--job-args",
        default="",
        help="the table jobs' own options, quoted as one string: "
        "'--uri s3://bucket/tables/t1 --n 10000000' (see emr/README.md)",
    )
    parser.add_argument("--particles", type=int, default=1000, help="main job: per generation")
    parser.add_argument("--generations", type=int, default=6, help="main job: at most")
    parser.add_argument("--seed", type=int, default=1, help="main job: seed of all randomness")
    parser.add_argument("--wait", action="store_true", help="wait until the step has finished")
    parser.add_argument(
        "--fetch",
        type=Path,
        metavar="DIR",
        help="wait, then download the run's results into DIR/RUN_NAME",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emr/launch.py",
        description="Run abcspark on Amazon EMR (see emr/README.md).",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    upload = commands.add_parser("upload", help="upload bootstrap, pins, jobs (and a wheel)")
    add_common(upload)
    add_layout(upload)
    upload.add_argument("--wheel", type=Path, help="abcspark wheel to upload")

    create = commands.add_parser("create", help="upload, start a cluster, run the main job")
    add_common(create)
    add_layout(create)
    add_run(create)
    source = create.add_mutually_exclusive_group(required=True)
    source.add_argument("--wheel", type=Path, help="abcspark wheel to upload and install")
    source.add_argument("--abcspark-version", help="install this abcspark version from PyPI")
    create.add_argument(
        "--abcspark-sha256",
        help="sha256 of the abcspark wheel (needed with --abcspark-version; with --wheel, that "
        "of the file is sent, and the nodes check the wheel they read from S3 against it)",
    )
    create.add_argument(
        "--wheelhouse",
        action="store_true",
        help="install offline from ARTIFACTS/wheelhouse (build-wheelhouse.sh)",
    )
    create.add_argument("--python", choices=spec.PYTHONS, default="python3.11")
    create.add_argument("--subnet", required=True, help="private subnet id")
    for option in ("service-role", "instance-profile", "security-configuration"):
        create.add_argument(f"--{option}", required=True)
    create.add_argument("--log-kms-key", help="KMS key ARN that encrypts the logs")
    create.add_argument("--name", default="abcspark", help="cluster name")
    create.add_argument("--instance-type", default=spec.Instances.instance_type)
    create.add_argument("--core-nodes", type=int, default=spec.Instances.core_nodes)
    create.add_argument(
        "--max-nodes",
        type=int,
        default=spec.Instances.max_nodes,
        help="core + spot task nodes that managed scaling may reach",
    )
    create.add_argument("--idle-timeout", type=int, default=3600, help="seconds; 60..604800")
    create.add_argument(
        "--no-step",
        action="store_true",
        help="start the cluster only (for notebooks or the pyspark shell)",
    )

    submit = commands.add_parser("submit", help="run a job as a step on a running cluster")
    add_common(submit)
    add_layout(submit)
    add_run(submit)
    submit.add_argument("--cluster-id", required=True)

    fetch = commands.add_parser("fetch", help="download a run's results")
    add_common(fetch)
    add_layout(fetch)
    fetch.add_argument("--run-name", required=True)
    fetch.add_argument("--to", type=Path, default=Path("results"), metavar="DIR")

    terminate = commands.add_parser("terminate", help="shut a cluster down")
    add_common(terminate)
    terminate.add_argument("--cluster-id", required=True)
    return parser


def checked_wheel(path: Optional[Path]) -> Optional[Path]:
    if path is not None and not (
        path.is_file() and path.name.startswith("abcspark-") and path.suffix == ".whl"
    ):
        raise ValueError(f"--wheel must be an existing abcspark-*.whl file (got {path})")
    return path


def wheel_sha256(args: argparse.Namespace) -> Optional[str]:
    """The sha256 the nodes check abcspark's wheel against (computed here for --wheel)."""
    given = args.abcspark_sha256
    if given is not None and not re.fullmatch(r"[0-9a-f]{64}", given):
        raise ValueError(f"--abcspark-sha256 must be 64 lowercase hex digits (got {given!r})")
    if args.wheel is None:
        if given is None:
            raise ValueError(
                "--abcspark-version needs --abcspark-sha256 (got none): the nodes install "
                "every package by its hash; take it from the release's wheel on PyPI"
            )
        return given
    computed = hashlib.sha256(args.wheel.read_bytes()).hexdigest()
    if given is not None and given != computed:
        raise ValueError(f"--abcspark-sha256 must be the sha256 of {args.wheel} (got {given})")
    return computed


def layout_of(args: argparse.Namespace) -> spec.Layout:
    return spec.Layout(
        args.bucket,
        args.artifacts_prefix.strip("/"),
        args.logs_prefix.strip("/"),
        args.results_prefix.strip("/"),
    )


def main_step(args: argparse.Namespace, layout: spec.Layout) -> dict:
    """The step the options ask for; refuses follow-ups it cannot have."""
    own = args.job not in ("run_height_pmc", "check_cluster")  # a table job, with its options
    if args.job_args and not own:
        raise ValueError(f"--job-args is for the table jobs; {args.job} takes none (drop it)")
    if own and not args.job_args:
        raise ValueError(f"{args.job} needs --job-args, e.g. --job-args '--help' (emr/README.md)")
    if args.job != "run_height_pmc" and args.fetch:
        raise ValueError(f"{args.job} writes no results here; drop --fetch (--wait shows its end)")
    if args.job != "run_height_pmc":
        name = f"abcspark {args.job} {args.run_name}"
        return spec.job_step(layout, args.job, shlex.split(args.job_args), name)
    return spec.height_pmc_step(
        layout,
        args.run_name,
        particles=args.particles,
        generations=args.generations,
        seed=args.seed,
    )


def show_plan(
    uploads: Sequence[Tuple[Path, str]], call: str, request: dict, then: Optional[str]
) -> None:
    for path, uri in uploads:
        print(f"[dry run] upload {path} to {uri}")
    print(f"[dry run] {call}:\n{json.dumps(request, indent=2)}")
    if then:
        print(f"[dry run] then {then}")


def follow_up(args: argparse.Namespace, layout: spec.Layout) -> Optional[str]:
    if args.fetch:
        target = args.fetch / args.run_name
        return f"wait for the step and download {layout.results(args.run_name)} to {target}"
    return "wait for the step" if args.wait else None


def finish(
    args: argparse.Namespace, s3, emr, cluster_id: str, step_id: str, layout: spec.Layout
) -> None:
    """Wait for the step and fetch its results, as the options ask."""
    output = f"; output: {layout.results(args.run_name)}" if args.job == "run_height_pmc" else ""
    print(f"step {step_id} on cluster {cluster_id}{output}")
    if not (args.wait or args.fetch):
        return
    print("waiting for the step (EMR reports every 30 s)...")
    aws.wait_for_step(emr, cluster_id, step_id)
    print(f"step {step_id} completed")
    if args.fetch:
        download(s3, layout, args.run_name, args.fetch)


def download(s3, layout: spec.Layout, run_name: str, to: Path) -> None:
    files = aws.fetch(s3, layout.results(run_name), to / run_name)
    if not files:
        raise SystemExit(f"nothing under {layout.results(run_name)}")
    for path in files:
        print(f"fetched {path}")


def run_upload(args: argparse.Namespace) -> None:
    uploads = spec.artifact_uploads(layout_of(args), checked_wheel(args.wheel))
    if args.dry_run:
        for path, uri in uploads:
            print(f"[dry run] upload {path} to {uri}")
        return
    s3, _ = aws.clients(args.region, args.endpoint_url)
    for path, uri in uploads:
        aws.upload(s3, path, uri)
        print(f"uploaded {uri}")


def run_create(args: argparse.Namespace) -> None:
    layout = layout_of(args)
    if args.no_step and (args.wait or args.fetch):
        raise ValueError("--wait and --fetch need a step; drop --no-step")
    steps = [] if args.no_step else [main_step(args, layout)]
    instances = spec.Instances(args.subnet, args.instance_type, args.core_nodes, args.max_nodes)
    bootstrap = spec.bootstrap_action(
        layout,
        args.python,
        wheel_name=checked_wheel(args.wheel).name if args.wheel else None,
        version=args.abcspark_version,
        sha256=wheel_sha256(args),
        wheelhouse=args.wheelhouse,
    )
    request = spec.cluster_request(
        name=args.name,
        layout=layout,
        python=args.python,
        instances=instances,
        bootstrap=bootstrap,
        steps=steps,
        service_role=args.service_role,
        instance_profile=args.instance_profile,
        security_configuration=args.security_configuration,
        log_kms_key=args.log_kms_key,
        idle_timeout=args.idle_timeout,
    )
    uploads = spec.artifact_uploads(layout, checked_wheel(args.wheel))
    if args.dry_run:
        show_plan(uploads, "emr.run_job_flow", request, follow_up(args, layout))
        return
    s3, emr = aws.clients(args.region, args.endpoint_url)
    for path, uri in uploads:
        aws.upload(s3, path, uri)
    cluster_id = aws.create_cluster(emr, request)
    print(
        f"cluster {cluster_id} starting (about 10 minutes); it terminates itself after "
        f"{args.idle_timeout} s idle"
    )
    if steps:
        step_id = aws.step_id_by_name(emr, cluster_id, steps[0]["Name"])
        finish(args, s3, emr, cluster_id, step_id, layout)


def run_submit(args: argparse.Namespace) -> None:
    layout = layout_of(args)
    step = main_step(args, layout)
    uploads = spec.job_uploads(layout)
    if args.dry_run:
        request = {"JobFlowId": args.cluster_id, "Steps": [step]}
        show_plan(uploads, "emr.add_job_flow_steps", request, follow_up(args, layout))
        return
    s3, emr = aws.clients(args.region, args.endpoint_url)
    for path, uri in uploads:
        aws.upload(s3, path, uri)
    finish(args, s3, emr, args.cluster_id, aws.add_step(emr, args.cluster_id, step), layout)


def run_fetch(args: argparse.Namespace) -> None:
    layout = layout_of(args)
    if args.dry_run:
        print(f"[dry run] download {layout.results(args.run_name)} to {args.to / args.run_name}")
        return
    s3, _ = aws.clients(args.region, args.endpoint_url)
    download(s3, layout, args.run_name, args.to)


def run_terminate(args: argparse.Namespace) -> None:
    if args.dry_run:
        print(f"[dry run] emr.terminate_job_flows: {args.cluster_id}")
        return
    _, emr = aws.clients(args.region, args.endpoint_url)
    aws.terminate(emr, args.cluster_id)
    print(f"cluster {args.cluster_id} terminating")


COMMANDS = {
    "upload": run_upload,
    "create": run_create,
    "submit": run_submit,
    "fetch": run_fetch,
    "terminate": run_terminate,
}


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point of ``python emr/launch.py``."""
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except ValueError as error:  # a bad option value found while building a request
        raise SystemExit(f"emr/launch.py {args.command}: {error}") from None
