"""What the CloudFormation templates ask AWS for: the security checklist, and the same
configurations, bootstrap action and step as emr/configurations and the launcher."""

from __future__ import annotations

import itertools
import json

import pytest
from emr_launcher import spec

from .cfn import Resolver, api_form, load
from .conftest import EMR_DIR

CLUSTER = load(EMR_DIR / "cloudformation" / "cluster.yaml")
SERVERLESS = load(EMR_DIR / "serverless" / "application.yaml")
BUCKET = "my-abc-bucket"
V2_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"
# What the cluster template needs besides its defaults (SubnetAccess has none on purpose).
REQUIRED = {"ArtifactsBucket": BUCKET, "SubnetId": "subnet-0example", "SubnetAccess": "private"}


def cluster(**parameters: str) -> dict:
    """The cluster's properties as CloudFormation would send them."""
    return resource(CLUSTER, "Cluster", **parameters)


def resource(template: dict, name: str, **parameters: str) -> dict:
    """A resource's properties as CloudFormation would send them."""
    given = {key: value for key, value in REQUIRED.items() if key in template["Parameters"]}
    resolve = Resolver(template, **{**given, **parameters})
    return resolve(template["Resources"][name]["Properties"])


def walk(node):
    """Every (key, value) pair and scalar in a template, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def statements(role: dict) -> list:
    return [
        statement
        for policy in role.get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("python", spec.PYTHONS)
def test_configurations_equal_the_single_source_files(python):
    configurations = cluster(PythonVersion=python)["Configurations"]
    assert api_form(configurations) == spec.load_configurations(python)


def test_python311_is_set_for_spark_livy_and_notebooks():
    flat = json.dumps(spec.load_configurations("python3.11"))
    for setting in (
        "PYSPARK_PYTHON",
        "PYSPARK_DRIVER_PYTHON",
        "livy-env",
        "livy.server.session.conf.spark.pyspark.python",
    ):
        assert setting in flat
    assert "python3.9" not in flat and '"/usr/bin/python3"' not in flat


WHEEL_SHA256 = "ab" * 32


@pytest.mark.parametrize(
    ("python", "install_from", "wheelhouse", "sha256"),
    [
        (python, install_from, wheelhouse, sha256)
        for python, install_from, wheelhouse, sha256 in itertools.product(
            spec.PYTHONS, ("artifacts", "pypi"), ("true", "false"), (WHEEL_SHA256, "")
        )
        if sha256 or install_from == "artifacts"
    ],
)
def test_bootstrap_action_matches_the_launcher(python, install_from, wheelhouse, sha256):
    version = "0.1.0"
    properties = cluster(
        PythonVersion=python,
        InstallFrom=install_from,
        UseWheelhouse=wheelhouse,
        AbcsparkVersion=version,
        AbcsparkSha256=sha256,
    )
    wheel = f"abcspark-{version}-py3-none-any.whl"
    expected = spec.bootstrap_action(
        spec.Layout(BUCKET),
        python,
        wheel_name=wheel if install_from == "artifacts" else None,
        version=version if install_from == "pypi" else None,
        sha256=sha256 or None,
        wheelhouse=wheelhouse == "true",
    )
    assert properties["BootstrapActions"] == [expected]


@pytest.mark.parametrize("python", spec.PYTHONS)
def test_bootstrap_installs_the_hash_pinned_requirements(python):
    (action,) = cluster(PythonVersion=python)["BootstrapActions"]
    uploads = dict((uri, path) for path, uri in spec.artifact_uploads(spec.Layout(BUCKET)))
    (requirements,) = [arg for arg in action["ScriptBootstrapAction"]["Args"] if "--requir" in arg]
    path = uploads[requirements.split("=", 1)[1]]
    assert path == spec.requirements_file(python) and path.is_file()
    assert "--hash=sha256:" in path.read_text()


def test_pypi_installs_are_refused_without_the_wheel_hash():
    refused = Resolver(CLUSTER, **REQUIRED, InstallFrom="pypi").refused_by()
    assert refused == ["PyPIInstallsNeedTheWheelHash"]
    assert not Resolver(
        CLUSTER, **REQUIRED, InstallFrom="pypi", AbcsparkSha256=WHEEL_SHA256
    ).refused_by()
    assert not Resolver(CLUSTER, **REQUIRED).refused_by()


def test_step_matches_the_launcher():
    step = resource(
        CLUSTER,
        "MainJob",
        RunName="run-7",
        Particles="500",
        Generations="3",
        Seed="11",
    )
    expected = spec.height_pmc_step(
        spec.Layout(BUCKET), "run-7", particles=500, generations=3, seed=11
    )
    assert step["JobFlowId"] == "<Cluster>"
    assert {key: step[key] for key in expected} == expected
    assert CLUSTER["Resources"]["MainJob"]["Condition"] == "WithStep"
    assert Resolver(CLUSTER, **REQUIRED, RunJob="false").conditions["WithStep"] is False


def test_cluster_matches_the_launchers_request():
    properties = cluster(
        CoreInstanceCount="3",
        MaximumCapacityUnits="12",
        IdleTimeoutSeconds="1800",
        InstanceType="m7i.2xlarge",
    )
    request = spec.cluster_request(
        name="x",
        layout=spec.Layout(BUCKET),
        python="python3.11",
        instances=spec.Instances("subnet-0example", "m7i.2xlarge", 3, 12),
        bootstrap={},
        steps=[],
        service_role="r",
        instance_profile="p",
        security_configuration="c",
        idle_timeout=1800,
    )
    assert CLUSTER["Parameters"]["ReleaseLabel"]["Default"] == request["ReleaseLabel"]
    assert properties["Applications"] == request["Applications"]
    assert properties["LogUri"] == request["LogUri"]
    assert properties["Tags"] == request["Tags"]
    assert properties["VisibleToAllUsers"] is True
    assert {"IdleTimeout": int(properties["AutoTerminationPolicy"]["IdleTimeout"])} == request[
        "AutoTerminationPolicy"
    ]
    limits = properties["ManagedScalingPolicy"]["ComputeLimits"]
    assert {
        key: value if key == "UnitType" else int(value) for key, value in limits.items()
    } == request["ManagedScalingPolicy"]["ComputeLimits"]
    instances = properties["Instances"]
    groups = [
        instances["MasterInstanceGroup"],
        instances["CoreInstanceGroup"],
        *instances["TaskInstanceGroups"],
    ]
    expected = [
        {key: group[key] for key in ("Name", "InstanceType", "Market")}
        for group in request["Instances"]["InstanceGroups"]
    ]
    assert [
        {key: group[key] for key in ("Name", "InstanceType", "Market")} for group in groups
    ] == expected
    assert [int(group["InstanceCount"]) for group in groups] == [
        group["InstanceCount"] for group in request["Instances"]["InstanceGroups"]
    ]


def test_cluster_release_and_applications():
    assert CLUSTER["Parameters"]["ReleaseLabel"]["Default"] == "emr-7.13.0" == spec.RELEASE_LABEL
    names = [app["Name"] for app in cluster()["Applications"]]
    assert names == ["Spark", "Livy", "JupyterEnterpriseGateway"]


def test_service_role_is_v2_tagged_and_passes_only_the_instance_role():
    properties = cluster()
    assert properties["ServiceRole"] == "<ServiceRole>"
    assert spec.MANAGED_POLICY_TAG in properties["Tags"]
    role = resource(CLUSTER, "ServiceRole")
    assert role["ManagedPolicyArns"] == [V2_POLICY]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "elasticmapreduce.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": "<account>"}
    passes = [s for s in statements(role) if "iam:PassRole" in as_list(s["Action"])]
    assert [s["Resource"] for s in passes] == ["<InstanceRole.Arn>"]


def test_instance_profile_reads_artifacts_and_tls_and_writes_only_logs_and_results():
    properties = cluster()
    assert properties["JobFlowRole"] == "<InstanceProfile>"
    profile = resource(CLUSTER, "InstanceProfile")
    assert profile["Roles"] == ["<InstanceRole>"]
    role = resource(CLUSTER, "InstanceRole")
    assert "AmazonElasticMapReduceforEC2Role" not in json.dumps(role)
    objects = f"arn:aws:s3:::{BUCKET}/abcspark/"
    readable = {
        f"{objects}artifacts/*",
        f"{objects}results/*",
        f"{objects}tls/emr-certificates.zip",
    }
    writable = {f"{objects}logs/*", f"{objects}results/*"}
    assert not [
        s for s in statements(role) if any(a.startswith("kms:") for a in as_list(s["Action"]))
    ]
    for statement in statements(role):
        actions, resources = as_list(statement["Action"]), as_list(statement["Resource"])
        assert statement["Effect"] == "Allow"
        assert not any("*" in action for action in actions), statement
        assert "*" not in resources, statement
        if "s3:GetObject" in actions:
            assert set(resources) <= readable, statement
        if {"s3:PutObject", "s3:DeleteObject"} & set(actions):
            assert set(resources) <= writable, statement
        if "s3:ListBucket" in actions:
            prefixes = statement["Condition"]["StringLike"]["s3:prefix"]
            assert set(prefixes) == {
                "abcspark/artifacts/*",
                "abcspark/results",
                "abcspark/results/*",
            }


def test_security_configuration_encrypts_and_requires_imdsv2():
    assert cluster()["SecurityConfiguration"] == "<SecurityConfiguration>"
    document = resource(CLUSTER, "SecurityConfiguration")["SecurityConfiguration"]
    encryption = document["EncryptionConfiguration"]
    assert encryption["EnableAtRestEncryption"] is True
    assert encryption["EnableInTransitEncryption"] is True
    at_rest = encryption["AtRestEncryptionConfiguration"]
    assert at_rest["S3EncryptionConfiguration"]["EncryptionMode"] == "SSE-KMS"
    assert at_rest["LocalDiskEncryptionConfiguration"]["EncryptionKeyProviderType"] == "AwsKms"
    assert at_rest["LocalDiskEncryptionConfiguration"]["EnableEbsEncryption"] is True
    tls = encryption["InTransitEncryptionConfiguration"]["TLSCertificateConfiguration"]
    assert tls == {
        "CertificateProviderType": "PEM",
        "S3Object": f"s3://{BUCKET}/abcspark/tls/emr-certificates.zip",
    }
    assert (
        document["InstanceMetadataServiceConfiguration"]["MinimumInstanceMetadataServiceVersion"]
        == 2
    )


def test_logs_are_encrypted_and_the_key_outlives_the_stack():
    properties = cluster()
    assert properties["LogUri"] == f"s3://{BUCKET}/abcspark/logs/"
    assert properties["LogEncryptionKmsKeyId"] == "<ClusterKey.Arn>"
    key = CLUSTER["Resources"]["ClusterKey"]
    assert key["DeletionPolicy"] == "Retain"
    assert key["Properties"]["EnableKeyRotation"] is True


@pytest.mark.parametrize("template", [CLUSTER, SERVERLESS], ids=["cluster", "serverless"])
def test_no_ssh_key_and_no_open_ingress(template):
    for key, value in walk(template):
        assert key != "Ec2KeyName"
        assert value not in ("0.0.0.0/0", "::/0")
    assert not [
        name
        for name, body in template["Resources"].items()
        if body["Type"].startswith("AWS::EC2::SecurityGroup")
    ]


def test_cluster_sits_in_the_private_subnet_parameter():
    assert CLUSTER["Parameters"]["SubnetId"]["Type"] == "AWS::EC2::Subnet::Id"
    assert "Default" not in CLUSTER["Parameters"]["SubnetId"]
    assert cluster(SubnetId="subnet-0other")["Instances"]["Ec2SubnetId"] == "subnet-0other"


def test_the_subnet_must_be_declared_private_or_public_and_public_is_flagged():
    access = CLUSTER["Parameters"]["SubnetAccess"]
    assert "Default" not in access  # a deployment must say it
    assert access["AllowedValues"] == ["private", "public"]
    outputs = CLUSTER["Outputs"]
    assert outputs["SubnetWarning"]["Condition"] == "InPublicSubnet"
    assert "PUBLIC subnet" in outputs["SubnetWarning"]["Value"]
    assert Resolver(CLUSTER, **{**REQUIRED, "SubnetAccess": "public"}).conditions["InPublicSubnet"]
    assert not Resolver(CLUSTER, **REQUIRED).conditions["InPublicSubnet"]


def test_costs_are_bounded():
    properties = cluster()
    assert properties["AutoTerminationPolicy"]["IdleTimeout"] == "3600"
    instances = properties["Instances"]
    assert instances["MasterInstanceGroup"]["Market"] == "ON_DEMAND"
    assert instances["CoreInstanceGroup"]["Market"] == "ON_DEMAND"
    assert [group["Market"] for group in instances["TaskInstanceGroups"]] == ["SPOT"]
    limits = properties["ManagedScalingPolicy"]["ComputeLimits"]
    assert (
        limits["MaximumOnDemandCapacityUnits"]
        == limits["MaximumCoreCapacityUnits"]
        == instances["CoreInstanceGroup"]["InstanceCount"]
    )


def test_serverless_application_is_private_and_stops_itself():
    application = resource(SERVERLESS, "Application")
    assert application["ReleaseLabel"] == spec.RELEASE_LABEL
    assert "NetworkConfiguration" not in application  # no VPC: S3 yes, internet no
    assert application["AutoStopConfiguration"]["Enabled"] is True
    assert application["MaximumCapacity"]["Cpu"] == "32 vCPU"
    role = resource(SERVERLESS, "JobRole")
    objects = f"arn:aws:s3:::{BUCKET}/abcspark/"
    for statement in statements(role):
        resources = as_list(statement["Resource"])
        assert "*" not in resources and not any("*" in a for a in as_list(statement["Action"]))
        if "s3:PutObject" in as_list(statement["Action"]):
            assert set(resources) <= {f"{objects}logs/*", f"{objects}results/*"}
