"""emr/launch.py against moto: it creates the template's cluster, adds steps, fetches results."""

from __future__ import annotations

import hashlib
import json
import re

import boto3
import pytest
from botocore.stub import Stubber
from emr_launcher import aws, cli, spec

TAG = {"Key": "for-use-with-amazon-emr-managed-policies", "Value": "true"}
ROLES = (
    "--subnet",
    "subnet-0example",
    "--service-role",
    "abcspark-service",
    "--instance-profile",
    "abcspark-instance",
    "--security-configuration",
    "abcspark-security",
    "--log-kms-key",
    "alias/abcspark-test",
)


def launch(capsys, *args: str) -> str:
    cli.main(list(args))
    return capsys.readouterr().out


def existing_cluster(emr) -> str:
    instances = {
        "MasterInstanceType": "m7i.xlarge",
        "InstanceCount": 1,
        "KeepJobFlowAliveWhenNoSteps": True,
    }
    return emr.run_job_flow(
        Name="existing",
        ReleaseLabel=spec.RELEASE_LABEL,
        Instances=instances,
        JobFlowRole="abcspark-instance",
        ServiceRole="abcspark-service",
    )["JobFlowId"]


@pytest.mark.parametrize(
    ("python", "interpreter"),
    [("python3.11", "/usr/bin/python3.11"), ("python3.9", "/usr/bin/python3")],
)
def test_create_starts_a_cluster_with_bootstrap_configurations_and_step(
    capsys, moto_endpoint, emr, s3, bucket, abcspark_wheel, python, interpreter
):
    out = launch(
        capsys,
        "create",
        "--endpoint-url",
        moto_endpoint,
        "--bucket",
        bucket,
        *ROLES,
        "--python",
        python,
        "--wheel",
        str(abcspark_wheel),
        "--run-name",
        "run-1",
        "--particles",
        "50",
    )

    cluster_id = re.search(r"cluster (j-\w+) starting", out).group(1)
    layout = spec.Layout(bucket)
    cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert cluster["ReleaseLabel"] == "emr-7.13.0"
    assert cluster["Configurations"] == spec.load_configurations(python)
    assert TAG in cluster["Tags"]
    assert cluster["ServiceRole"] == "abcspark-service"
    assert cluster["SecurityConfiguration"] == "abcspark-security"
    assert cluster["Ec2InstanceAttributes"]["IamInstanceProfile"] == "abcspark-instance"
    assert cluster["Ec2InstanceAttributes"]["Ec2SubnetId"] == "subnet-0example"
    assert cluster["LogUri"] == f"s3://{bucket}/abcspark/logs/"

    (action,) = emr.list_bootstrap_actions(ClusterId=cluster_id)["BootstrapActions"]
    assert action["ScriptPath"] == f"s3://{bucket}/abcspark/artifacts/bootstrap/install-abcspark.sh"
    assert action["Args"] == [
        f"--python={interpreter}",
        f"--requirements=s3://{bucket}/abcspark/artifacts/bootstrap/requirements-{python}.txt",
        f"--wheel=s3://{bucket}/abcspark/artifacts/wheels/{abcspark_wheel.name}",
        # computed here, from the wheel that is uploaded: the nodes check the S3 copy against it
        f"--abcspark-sha256={hashlib.sha256(abcspark_wheel.read_bytes()).hexdigest()}",
    ]

    (step,) = emr.list_steps(ClusterId=cluster_id)["Steps"]
    assert step["Name"] == "abcspark run-1"
    assert step["ActionOnFailure"] == "CONTINUE"
    assert step["Config"]["Args"] == [
        "spark-submit",
        "--deploy-mode",
        "client",
        f"s3://{bucket}/abcspark/artifacts/jobs/run_height_pmc.py",
        "--particles",
        "50",
        "--generations",
        "6",
        "--seed",
        "1",
        "--output",
        f"s3://{bucket}/abcspark/results/run-1/",
    ]
    assert f"step {step['Id']} on cluster {cluster_id}" in out

    groups = emr.list_instance_groups(ClusterId=cluster_id)["InstanceGroups"]
    assert {group["InstanceGroupType"]: group["Market"] for group in groups} == {
        "MASTER": "ON_DEMAND",
        "CORE": "ON_DEMAND",
        "TASK": "SPOT",
    }

    keys = {item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    uploads = spec.artifact_uploads(layout, abcspark_wheel)
    assert {uri.split(f"{bucket}/")[1] for _, uri in uploads} == keys
    uploaded = s3.get_object(Bucket=bucket, Key="abcspark/artifacts/bootstrap/install-abcspark.sh")
    assert uploaded["Body"].read() == spec.BOOTSTRAP_SCRIPT.read_bytes()


def test_submit_adds_steps_to_a_running_cluster(capsys, moto_endpoint, emr, s3, bucket):
    cluster_id = existing_cluster(emr)
    common = ("--endpoint-url", moto_endpoint, "--cluster-id", cluster_id, "--bucket", bucket)

    out = launch(capsys, "submit", *common, "--run-name", "seed-2", "--seed", "2")
    launch(capsys, "submit", *common, "--job", "check_cluster", "--run-name", "check-1")
    table = f"--uri s3://{bucket}/tables/t1 --n 1000000 --seed 3"
    launch(capsys, "submit", *common, "--job", "build_table", "--job-args", table)

    built, newest, first = emr.list_steps(ClusterId=cluster_id)["Steps"]
    assert built["Config"]["Args"][3:] == [
        f"s3://{bucket}/abcspark/artifacts/jobs/build_table.py",
        *table.split(),
    ]
    assert first["Name"] == "abcspark seed-2"
    assert first["Config"]["Args"][-4:] == [
        "--seed",
        "2",
        "--output",
        f"s3://{bucket}/abcspark/results/seed-2/",
    ]
    assert f"step {first['Id']} on cluster {cluster_id}" in out
    assert newest["Config"]["Args"] == [
        "spark-submit",
        "--deploy-mode",
        "client",
        f"s3://{bucket}/abcspark/artifacts/jobs/check_cluster.py",
    ]
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {f"abcspark/artifacts/jobs/{name}.py" for name in spec.JOBS}


def test_fetch_downloads_the_results_of_a_run(capsys, moto_endpoint, s3, bucket, tmp_path):
    prefix = "abcspark/results/run-3/"
    for key in (
        "posterior.png",
        "posterior/particles.parquet",
        "posterior/metadata.json",
        "posterior_$folder$",
    ):
        s3.put_object(Bucket=bucket, Key=prefix + key, Body=key.encode())

    launch(
        capsys,
        "fetch",
        "--endpoint-url",
        moto_endpoint,
        "--bucket",
        bucket,
        "--run-name",
        "run-3",
        "--to",
        str(tmp_path),
    )

    files = sorted(
        str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file()
    )
    assert files == [
        "run-3/posterior.png",
        "run-3/posterior/metadata.json",
        "run-3/posterior/particles.parquet",
    ]
    assert (tmp_path / "run-3" / "posterior.png").read_bytes() == b"posterior.png"
    with pytest.raises(SystemExit, match="nothing under"):
        cli.main(
            [
                "fetch",
                "--endpoint-url",
                moto_endpoint,
                "--bucket",
                bucket,
                "--run-name",
                "run-4",
                "--to",
                str(tmp_path),
            ]
        )


@pytest.mark.parametrize(
    "name",
    # Each lands in tmp_path, outside the destination, if the check fails; ../run-3x/ shares
    # the destination's name as a prefix (a string comparison would let it through).
    ["../evil.txt", "posterior/../../evil.txt", "../../evil.txt", "../run-3x/a"],
)
def test_fetch_refuses_keys_that_leave_the_destination(
    capsys, moto_endpoint, s3, bucket, tmp_path, name
):
    prefix = "abcspark/results/run-3/"
    key = prefix + name
    s3.put_object(Bucket=bucket, Key=prefix + "posterior.png", Body=b"png")
    s3.put_object(Bucket=bucket, Key=key, Body=b"evil")
    destination = tmp_path / "results"
    args = ["--endpoint-url", moto_endpoint, "--bucket", bucket, "--run-name", "run-3"]

    with pytest.raises(SystemExit, match=re.escape(f"S3 key {key!r} must")):
        cli.main(["fetch", *args, "--to", str(destination)])

    # Nothing at all is written: every key is checked before the first download.
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []
    with pytest.raises(ValueError, match="inside"):
        aws.fetch(s3, f"s3://{bucket}/{prefix}", destination / "run-3")


def test_fetch_keeps_dot_dot_keys_that_stay_inside(capsys, moto_endpoint, s3, bucket, tmp_path):
    key = "abcspark/results/run-3/posterior/../posterior.png"
    s3.put_object(Bucket=bucket, Key=key, Body=b"png")

    files = aws.fetch(s3, f"s3://{bucket}/abcspark/results/run-3/", tmp_path / "run-3")

    assert files == [tmp_path / "run-3" / "posterior.png"]
    assert files[0].read_bytes() == b"png"


def test_terminate_shuts_the_cluster_down(capsys, moto_endpoint, emr):
    cluster_id = existing_cluster(emr)
    launch(capsys, "terminate", "--endpoint-url", moto_endpoint, "--cluster-id", cluster_id)
    assert emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"] in (
        "TERMINATING",
        "TERMINATED",
    )


@pytest.fixture
def no_aws(monkeypatch):
    """Make any attempt to reach AWS fail the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a dry run called AWS")

    monkeypatch.setattr(aws, "clients", refuse)
    monkeypatch.setattr(boto3, "client", refuse)


def test_dry_run_prints_the_plan_and_calls_nothing(capsys, no_aws, abcspark_wheel):
    out = launch(
        capsys,
        "create",
        "--dry-run",
        "--bucket",
        "my-abc-bucket",
        *ROLES,
        "--wheel",
        str(abcspark_wheel),
        "--run-name",
        "r1",
        "--fetch",
        "results",
    )

    layout = spec.Layout("my-abc-bucket")
    for path, uri in spec.artifact_uploads(layout, abcspark_wheel):
        assert f"[dry run] upload {path} to {uri}" in out
    request = json.loads(out.split("[dry run] emr.run_job_flow:\n")[1].split("\n[dry run]")[0])
    assert request == spec.cluster_request(
        name="abcspark",
        layout=layout,
        python="python3.11",
        instances=spec.Instances("subnet-0example"),
        bootstrap=spec.bootstrap_action(
            layout,
            "python3.11",
            wheel_name=abcspark_wheel.name,
            sha256=hashlib.sha256(abcspark_wheel.read_bytes()).hexdigest(),
        ),
        steps=[spec.height_pmc_step(layout, "r1")],
        service_role="abcspark-service",
        instance_profile="abcspark-instance",
        security_configuration="abcspark-security",
        log_kms_key="alias/abcspark-test",
    )
    then = "wait for the step and download s3://my-abc-bucket/abcspark/results/r1/ to results/r1"
    assert f"[dry run] then {then}" in out


@pytest.mark.parametrize(
    "args",
    [
        ("upload", "--bucket", "my-abc-bucket"),
        ("submit", "--bucket", "my-abc-bucket", "--cluster-id", "j-EXAMPLE", "--wait"),
        ("fetch", "--bucket", "my-abc-bucket", "--run-name", "r1"),
        ("terminate", "--cluster-id", "j-EXAMPLE"),
    ],
)
def test_every_command_has_a_dry_run(capsys, no_aws, args):
    out = launch(capsys, *args, "--dry-run")
    assert out.startswith("[dry run] ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--wheel", "missing/abcspark-0.1.0-py3-none-any.whl"), "--wheel must be an existing"),
        (
            ("--abcspark-version", "0.1.0", "--core-nodes", "3", "--max-nodes", "2"),
            "max_nodes must be at least core_nodes=3",
        ),
        (("--abcspark-version", "0.1.0", "--no-step", "--wait"), "--wait and --fetch need a step"),
        (
            ("--abcspark-version", "0.1.0", "--job", "check_cluster", "--fetch", "results"),
            "check_cluster writes no results",
        ),
        (("--abcspark-version", "0.1.0", "--job", "query_table"), "query_table needs --job-args"),
        (
            ("--abcspark-version", "0.1.0", "--job-args", "--n 5"),
            "--job-args is for the table jobs; run_height_pmc takes none",
        ),
        (
            ("--abcspark-version", "0.1.0", "--no-step"),
            "--abcspark-version needs --abcspark-sha256",
        ),
        (
            ("--abcspark-version", "0.1.0", "--abcspark-sha256", "F" * 64),
            "--abcspark-sha256 must be 64 lowercase hex digits",
        ),
    ],
)
def test_bad_options_stop_before_any_call(no_aws, args, message):
    with pytest.raises(SystemExit, match=re.escape(message)):
        cli.main(["create", "--dry-run", "--bucket", "my-abc-bucket", *ROLES, *args])


def test_a_wheel_that_differs_from_the_given_sha256_stops_create(no_aws, abcspark_wheel):
    with pytest.raises(SystemExit, match=re.escape(f"must be the sha256 of {abcspark_wheel}")):
        cli.main(
            [
                "create",
                "--dry-run",
                "--bucket",
                "my-abc-bucket",
                *ROLES,
                "--wheel",
                str(abcspark_wheel),
                "--abcspark-sha256",
                "0" * 64,
            ]
        )


def test_a_pypi_install_carries_the_given_sha256(capsys, no_aws):
    out = launch(
        capsys,
        "create",
        "--dry-run",
        "--bucket",
        "my-abc-bucket",
        *ROLES,
        "--abcspark-version",
        "0.1.0",
        "--abcspark-sha256",
        "ab" * 32,
        "--no-step",
    )
    request = json.loads(out.split("[dry run] emr.run_job_flow:\n")[1])
    args = request["BootstrapActions"][0]["ScriptBootstrapAction"]["Args"]
    assert args[2:] == ["--version=0.1.0", f"--abcspark-sha256={'ab' * 32}"]


def stubbed_emr(states, failure=None):
    client = boto3.client("emr", region_name="us-east-1")
    stubber = Stubber(client)
    for state in states:
        status = {"State": state, **({"FailureDetails": failure} if failure else {})}
        stubber.add_response("describe_step", {"Step": {"Status": status}})
    return client, stubber


def test_wait_for_step_returns_when_the_step_completes():
    client, stubber = stubbed_emr(["PENDING", "RUNNING", "COMPLETED"])
    with stubber:
        aws.wait_for_step(client, "j-EXAMPLE", "s-EXAMPLE", delay=0)
    stubber.assert_no_pending_responses()


def test_wait_for_step_reports_why_a_step_failed():
    failure = {
        "Reason": "Unknown",
        "Message": "ValueError: particles must be positive",
        "LogFile": "s3://my-abc-bucket/abcspark/logs/j-EXAMPLE/steps/s-EXAMPLE/stderr.gz",
    }
    client, stubber = stubbed_emr(["RUNNING", "FAILED", "FAILED"], failure)
    stubber.add_response("describe_cluster", {"Cluster": {"Status": {"State": "WAITING"}}})
    with stubber, pytest.raises(SystemExit, match="ended FAILED: ValueError: particles must be"):
        aws.wait_for_step(client, "j-EXAMPLE", "s-EXAMPLE", delay=0)
