"""The requests the launcher sends to EMR, built without any AWS call.

They mirror ``emr/cloudformation/cluster.yaml``: the same release, applications, instance
groups, bootstrap action, step and tags, and the configurations read from the same files in
``emr/configurations`` (a test holds the two in step).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

EMR_DIR = Path(__file__).resolve().parents[1]
RELEASE_LABEL = "emr-7.13.0"
APPLICATIONS = ("Spark", "Livy", "JupyterEnterpriseGateway")
PYTHONS = ("python3.11", "python3.9")
BOOTSTRAP_SCRIPT = EMR_DIR / "bootstrap" / "install-abcspark.sh"
JOBS = {path.stem: path for path in sorted((EMR_DIR / "jobs").glob("*.py"))}
# AmazonEMRServicePolicy_v2 only acts on resources that carry this tag.
MANAGED_POLICY_TAG = {"Key": "for-use-with-amazon-emr-managed-policies", "Value": "true"}


@dataclass(frozen=True)
class Layout:
    """Where artifacts, logs and results live: one bucket, three prefixes (the template's)."""

    bucket: str
    artifacts_prefix: str = "abcspark/artifacts"
    logs_prefix: str = "abcspark/logs"
    results_prefix: str = "abcspark/results"

    def artifact(self, key: str) -> str:
        """The S3 URI of an artifact, ``key`` relative to the artifacts prefix."""
        return f"s3://{self.bucket}/{self.artifacts_prefix}/{key}"

    def logs(self) -> str:
        """The cluster's LogUri."""
        return f"s3://{self.bucket}/{self.logs_prefix}/"

    def results(self, run_name: str) -> str:
        """The output URI of one run."""
        return f"s3://{self.bucket}/{self.results_prefix}/{run_name}/"


@dataclass(frozen=True)
class Instances:
    """Instance groups: one on-demand primary, on-demand core nodes, spot task nodes."""

    subnet_id: str
    instance_type: str = "m7i.xlarge"
    core_nodes: int = 2
    max_nodes: int = 10  # core + task, the managed-scaling ceiling

    def __post_init__(self) -> None:
        if self.core_nodes < 1:
            raise ValueError(f"core_nodes must be at least 1 (got {self.core_nodes})")
        if self.max_nodes < self.core_nodes:
            raise ValueError(
                f"max_nodes must be at least core_nodes={self.core_nodes} "
                f"(got {self.max_nodes}); it counts core and task nodes"
            )


def load_configurations(python: str) -> List[dict]:
    """The EMR configurations (API form, ``Properties``) for ``python3.9`` or ``python3.11``."""
    if python not in PYTHONS:
        raise ValueError(f"python must be one of {PYTHONS} (got {python!r})")
    return json.loads((EMR_DIR / "configurations" / f"{python}.json").read_text())


def interpreter(configurations: Sequence[dict]) -> str:
    """The PYSPARK_PYTHON that the configurations export: the bootstrap installs into it."""
    for classification in configurations:
        if classification["Classification"] == "spark-env":
            for export in classification.get("Configurations", []):
                if "PYSPARK_PYTHON" in export.get("Properties", {}):
                    return export["Properties"]["PYSPARK_PYTHON"]
    raise ValueError("configurations must export PYSPARK_PYTHON in spark-env (got none)")


def requirements_file(python: str) -> Path:
    """The hash-pinned requirements the bootstrap installs for ``python3.9`` or ``python3.11``."""
    return EMR_DIR / "bootstrap" / f"requirements-{python}.txt"


def artifact_uploads(layout: Layout, wheel: Optional[Path] = None) -> List[Tuple[Path, str]]:
    """(local file, S3 URI) of everything the clusters read: bootstrap, pins, wheel, jobs."""
    files = [(BOOTSTRAP_SCRIPT, "bootstrap/install-abcspark.sh")]
    files += [
        (requirements_file(python), f"bootstrap/{requirements_file(python).name}")
        for python in PYTHONS
    ]
    if wheel is not None:
        files.append((wheel, f"wheels/{wheel.name}"))
    return [(path, layout.artifact(key)) for path, key in files] + job_uploads(layout)


def job_uploads(layout: Layout) -> List[Tuple[Path, str]]:
    """(local file, S3 URI) of the step entry points in ``emr/jobs``."""
    return [(path, layout.artifact(f"jobs/{path.name}")) for path in JOBS.values()]


def bootstrap_action(
    layout: Layout,
    python: str,
    *,
    wheel_name: Optional[str] = None,
    version: Optional[str] = None,
    sha256: Optional[str] = None,
    wheelhouse: bool = False,
) -> dict:
    """The bootstrap action: install abcspark from an uploaded wheel or from the index.

    Everything is installed by hash: the pinned requirements carry theirs, ``sha256`` is the
    abcspark wheel's (needed with ``version``; with ``wheel_name`` the node checks the wheel it
    reads from S3 against it).
    """
    if (wheel_name is None) == (version is None):
        raise ValueError("give exactly one of wheel_name and version")
    if version is not None and sha256 is None:
        raise ValueError(f"version={version!r} needs sha256, the abcspark wheel's (got None)")
    args = [
        f"--python={interpreter(load_configurations(python))}",
        f"--requirements={layout.artifact(f'bootstrap/{requirements_file(python).name}')}",
    ]
    if wheel_name is not None:
        args.append(f"--wheel={layout.artifact(f'wheels/{wheel_name}')}")
    else:
        args.append(f"--version={version}")
    if sha256 is not None:
        args.append(f"--abcspark-sha256={sha256}")
    if wheelhouse:
        args.append(f"--wheelhouse={layout.artifact('wheelhouse')}")
    return {
        "Name": "install abcspark",
        "ScriptBootstrapAction": {
            "Path": layout.artifact("bootstrap/install-abcspark.sh"),
            "Args": args,
        },
    }


def job_step(layout: Layout, job: str, job_args: Sequence[str], name: str) -> dict:
    """A spark-submit step running one of ``emr/jobs`` (client mode: output in the step log)."""
    if job not in JOBS:
        raise ValueError(f"job must be one of {sorted(JOBS)} (got {job!r})")
    args = ["spark-submit", "--deploy-mode", "client", layout.artifact(f"jobs/{job}.py"), *job_args]
    return {
        "Name": name,
        "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": args},
    }


def height_pmc_step(
    layout: Layout, run_name: str, *, particles: int = 1000, generations: int = 6, seed: int = 1
) -> dict:
    """The main job, ``python -m abcspark``, writing to the run's results prefix."""
    job_args = [
        "--particles",
        str(particles),
        "--generations",
        str(generations),
        "--seed",
        str(seed),
        "--output",
        layout.results(run_name),
    ]
    return job_step(layout, "run_height_pmc", job_args, f"abcspark {run_name}")


def cluster_request(
    *,
    name: str,
    layout: Layout,
    python: str,
    instances: Instances,
    bootstrap: dict,
    steps: Sequence[dict],
    service_role: str,
    instance_profile: str,
    security_configuration: str,
    log_kms_key: Optional[str] = None,
    idle_timeout: int = 3600,
) -> Dict:
    """Keyword arguments of ``emr.run_job_flow`` for a private, encrypted cluster."""

    def group(role: str, label: str, count: int, market: str) -> dict:
        return {
            "Name": label,
            "InstanceRole": role,
            "InstanceType": instances.instance_type,
            "InstanceCount": count,
            "Market": market,
        }

    request = {
        "Name": name,
        "ReleaseLabel": RELEASE_LABEL,
        "Applications": [{"Name": app} for app in APPLICATIONS],
        "ServiceRole": service_role,
        "JobFlowRole": instance_profile,
        "SecurityConfiguration": security_configuration,
        "LogUri": layout.logs(),
        "VisibleToAllUsers": True,
        "Instances": {
            "Ec2SubnetId": instances.subnet_id,
            "KeepJobFlowAliveWhenNoSteps": True,
            "TerminationProtected": False,
            "InstanceGroups": [
                group("MASTER", "primary", 1, "ON_DEMAND"),
                group("CORE", "core", instances.core_nodes, "ON_DEMAND"),
                group("TASK", "task-spot", 0, "SPOT"),
            ],
        },
        "BootstrapActions": [bootstrap],
        "Configurations": load_configurations(python),
        "Steps": list(steps),
        "AutoTerminationPolicy": {"IdleTimeout": idle_timeout},
        "ManagedScalingPolicy": {
            "ComputeLimits": {
                "UnitType": "Instances",
                "MinimumCapacityUnits": instances.core_nodes,
                "MaximumCapacityUnits": instances.max_nodes,
                "MaximumCoreCapacityUnits": instances.core_nodes,
                "MaximumOnDemandCapacityUnits": instances.core_nodes,
            }
        },
        "Tags": [MANAGED_POLICY_TAG],
    }
    if log_kms_key:
        request["LogEncryptionKmsKeyId"] = log_kms_key
    return request
