"""The launcher's AWS calls, through boto3; ``endpoint_url`` points them at moto in tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional, Tuple
from urllib.parse import urlparse

import boto3
from botocore.exceptions import WaiterError

Client = Any  # a boto3 client


def clients(region: Optional[str], endpoint_url: Optional[str]) -> Tuple[Client, Client]:
    """The S3 and EMR clients of the default credential chain."""
    session = boto3.session.Session(region_name=region)
    return (
        session.client("s3", endpoint_url=endpoint_url),
        session.client("emr", endpoint_url=endpoint_url),
    )


def split_s3_uri(uri: str) -> Tuple[str, str]:
    """``s3://bucket/key`` as (bucket, key)."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"uri must be s3://bucket/key (got {uri!r})")
    return parsed.netloc, parsed.path.lstrip("/")


def upload(s3: Client, path: Path, uri: str) -> None:
    """Copy a local file to S3."""
    bucket, key = split_s3_uri(uri)
    s3.upload_file(str(path), bucket, key)


def create_cluster(emr: Client, request: dict) -> str:
    """Start a cluster; its id."""
    return emr.run_job_flow(**request)["JobFlowId"]


def add_step(emr: Client, cluster_id: str, step: dict) -> str:
    """Queue a step on a running cluster; its id."""
    return emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[step])["StepIds"][0]


def step_id_by_name(emr: Client, cluster_id: str, name: str) -> str:
    """The id of the newest step called ``name`` (steps given to run_job_flow have no id yet)."""
    for step in emr.list_steps(ClusterId=cluster_id)["Steps"]:  # newest first
        if step["Name"] == name:
            return step["Id"]
    raise ValueError(f"cluster {cluster_id} has no step named {name!r}")


def wait_for_step(
    emr: Client, cluster_id: str, step_id: str, delay: int = 30, hours: float = 6
) -> None:
    """Block until the step completes; raise SystemExit with EMR's reason if it does not."""
    config = {"Delay": delay, "MaxAttempts": max(1, int(hours * 3600 / max(delay, 1)))}
    try:
        emr.get_waiter("step_complete").wait(
            ClusterId=cluster_id, StepId=step_id, WaiterConfig=config
        )
    except WaiterError:
        status = emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]["Status"]
        cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]
        failure = status.get("FailureDetails", {})
        raise SystemExit(
            f"step {step_id} ended {status['State']}: {failure.get('Message', 'no message')} "
            f"(log: {failure.get('LogFile', 'none')}); cluster {cluster_id} is "
            f"{cluster['State']}: {cluster.get('StateChangeReason', {}).get('Message', '')}"
        ) from None


def fetch(s3: Client, uri: str, destination: Path) -> List[Path]:
    """Download every object under an S3 prefix into ``destination``; the files written.

    Every key is checked before the first download: one whose local path would resolve outside
    ``destination`` (``..`` segments) stops the fetch with nothing written.
    """
    bucket, prefix = split_s3_uri(uri)
    root = destination.resolve()
    planned = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith(("/", "_$folder$")):  # EMRFS directory markers
                continue
            planned.append((item["Key"], local_path(root, item["Key"], prefix)))
    for key, target in planned:
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(target))
    return [target for _, target in planned]


def local_path(root: Path, key: str, prefix: str) -> Path:
    """Where ``key`` goes under ``root`` (resolved); refuses keys that would leave it."""
    target = (root / key[len(prefix) :].lstrip("/")).resolve()
    if target == root or root not in target.parents:
        raise ValueError(
            f"S3 key {key!r} must name a file inside {root} (got {target}); "
            "refusing to fetch anything from this prefix"
        )
    return target


def terminate(emr: Client, cluster_id: str) -> None:
    """Shut a cluster down (its logs and results stay in S3)."""
    emr.terminate_job_flows(JobFlowIds=[cluster_id])
