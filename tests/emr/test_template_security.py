"""The security of emr/cloudformation/cluster.yaml by what its policies do: the KMS key policy,
the bucket policy and the roles are evaluated for concrete requests (who, what, on which ARN,
under which conditions), and the security groups are searched for ingress from anywhere."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Dict, List

import pytest
from emr_launcher import spec

from .cfn import Resolver
from .test_templates import BUCKET, CLUSTER, REQUIRED, SERVERLESS, as_list, resource, statements

ROOT = "arn:aws:iam::<account>:root"
NODES = "<InstanceRole.Arn>"  # the placeholder of !GetAtt InstanceRole.Arn
EMR = "<ServiceRole.Arn>"
READER = "arn:aws:iam::<account>:role/analyst"
USE = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:CreateGrant"]
TLS_KEY = f"arn:aws:s3:::{BUCKET}/abcspark/tls/emr-certificates.zip"
ARTIFACT = f"arn:aws:s3:::{BUCKET}/abcspark/artifacts/jobs/run_height_pmc.py"
RESULT = f"arn:aws:s3:::{BUCKET}/abcspark/results/run-1/posterior.png"
HTTPS = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}
WORLD = ("0.0.0.0/0", "::/0")
NOTEBOOK_PORTS = {"Livy": 8998, "JupyterEnterpriseGateway": 9547}


def condition_holds(operator: str, key: str, expected, context: Dict[str, str]) -> bool:
    """One condition of an IAM statement for a request's context keys (IAM's semantics for
    the operators the templates use; a missing key makes only negated operators true)."""
    expected = [str(value) for value in as_list(expected)]
    if operator == "Null":
        return (key not in context) == (expected == ["true"])
    if key not in context:
        return operator.startswith("StringNot")
    value = context[key]
    if operator in ("Bool", "StringEquals"):
        return value in expected
    if operator == "StringNotEquals":
        return value not in expected
    if operator == "NumericLessThan":
        return float(value) < float(expected[0])
    raise NotImplementedError(operator)


def matches(statement: dict, action: str, arn: str, context: Dict[str, str]) -> bool:
    return (
        any(fnmatchcase(action, pattern) for pattern in as_list(statement["Action"]))
        and any(fnmatchcase(arn, pattern) for pattern in as_list(statement["Resource"]))
        and all(
            condition_holds(operator, key, expected, context)
            for operator, block in statement.get("Condition", {}).items()
            for key, expected in block.items()
        )
    )


def bucket_denies(action: str, arn: str, principal: str = "", **context: str) -> bool:
    """Whether the bucket policy's explicit Deny stops this request."""
    policy = resource(CLUSTER, "BucketPolicy")["PolicyDocument"]["Statement"]
    context = {**HTTPS, **({"aws:PrincipalArn": principal} if principal else {}), **context}
    return any(s["Effect"] == "Deny" and matches(s, action, arn, context) for s in policy)


def key_statements(**parameters: str) -> List[dict]:
    return resource(CLUSTER, "ClusterKey", **parameters)["KeyPolicy"]["Statement"]


def key_allows(principal: str, action: str, **parameters: str) -> bool:
    """Whether the key policy lets ``principal`` call ``action`` (conditions aside)."""
    return any(
        s["Effect"] == "Allow"
        and principal in as_list(s["Principal"]["AWS"])
        and any(fnmatchcase(action, pattern) for pattern in as_list(s["Action"]))
        for s in key_statements(**parameters)
    )


def test_key_policy_grants_no_wildcard_and_the_account_only_administration():
    for statement in key_statements():
        assert not [action for action in as_list(statement["Action"]) if "*" in action]
    for action in ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:EnableKeyRotation"):
        assert key_allows(ROOT, action), action
    for action in USE:
        assert not key_allows(ROOT, action), action


def test_only_the_cluster_roles_and_named_readers_use_the_key():
    users = {
        principal
        for statement in key_statements(KeyReaderArns=READER)
        if any(action in USE for action in as_list(statement["Action"]))
        for principal in as_list(statement["Principal"]["AWS"])
    }
    assert users == {NODES, EMR, READER}
    assert key_allows(NODES, "kms:GenerateDataKey") and key_allows(NODES, "kms:Decrypt")
    assert not key_allows(NODES, "kms:CreateGrant")
    assert key_allows(READER, "kms:Decrypt", KeyReaderArns=READER)
    assert not key_allows(READER, "kms:GenerateDataKey", KeyReaderArns=READER)
    assert not key_allows(READER, "kms:Decrypt")  # nobody reads by default
    (grants,) = [s for s in key_statements() if "kms:CreateGrant" in as_list(s["Action"])]
    assert grants["Principal"] == {"AWS": EMR}
    assert grants["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": True}}


def test_no_iam_policy_of_the_stack_touches_kms():
    for name in ("InstanceRole", "ServiceRole"):
        for statement in statements(resource(CLUSTER, name)):
            assert not [a for a in as_list(statement["Action"]) if a.startswith("kms:")], name


def test_bucket_policy_is_on_by_default_and_guards_the_artifacts_bucket():
    assert CLUSTER["Resources"]["BucketPolicy"]["Condition"] == "WithBucketPolicy"
    assert Resolver(CLUSTER, **REQUIRED).conditions["WithBucketPolicy"]
    off = Resolver(CLUSTER, **REQUIRED, EnforceBucketPolicy="false")
    assert not off.conditions["WithBucketPolicy"]
    assert resource(CLUSTER, "BucketPolicy")["Bucket"] == BUCKET


@pytest.mark.parametrize(
    ("action", "arn", "context"),
    [
        ("s3:GetObject", ARTIFACT, {"aws:SecureTransport": "false"}),
        ("s3:ListBucket", f"arn:aws:s3:::{BUCKET}", {"aws:SecureTransport": "false"}),
        ("s3:PutObject", RESULT, {"s3:TlsVersion": "1.1"}),
        ("s3:PutObject", RESULT, {"s3:x-amz-server-side-encryption-customer-algorithm": "AES256"}),
        ("s3:PutObject", RESULT, {"s3:x-amz-server-side-encryption": "aws:kms:dsse"}),
    ],
    ids=["http-object", "http-bucket", "tls-1.1", "sse-c", "dsse"],
)
def test_bucket_policy_denies_plain_http_old_tls_and_other_encryption(action, arn, context):
    assert bucket_denies(action, arn, NODES, **context)


@pytest.mark.parametrize(
    "context",
    [
        {"s3:x-amz-server-side-encryption": "aws:kms"},  # EMRFS and logs: SSE-KMS
        {"s3:x-amz-server-side-encryption": "AES256"},
        {},  # no header: the bucket's default encryption (SSE-S3 at least); also UploadPart
    ],
    ids=["sse-kms", "sse-s3", "default"],
)
def test_bucket_policy_lets_encrypted_writes_over_tls_through(context):
    assert not bucket_denies("s3:PutObject", RESULT, NODES, **context)
    assert not bucket_denies("s3:GetObject", ARTIFACT, READER)


def test_tls_private_key_is_readable_by_the_nodes_only():
    assert not bucket_denies("s3:GetObject", TLS_KEY, NODES)
    for someone in (READER, "<JobRole.Arn>", ""):  # a person, the Serverless jobs, anonymous
        assert bucket_denies("s3:GetObject", TLS_KEY, someone)
        assert bucket_denies("s3:GetObjectVersion", TLS_KEY, someone)
    assert not bucket_denies("s3:PutObject", TLS_KEY, READER)  # renewing it stays possible


def roles_reading(arn: str) -> List[str]:
    """(role, statement id) of every role statement that allows s3:GetObject on ``arn``."""
    roles = [(CLUSTER, name) for name in ("InstanceRole", "ServiceRole")]
    return [
        f"{name}.{statement.get('Sid')}"
        for template, name in roles + [(SERVERLESS, "JobRole")]
        for statement in statements(resource(template, name))
        if statement["Effect"] == "Allow" and matches(statement, "s3:GetObject", arn, {})
    ]


def test_only_the_instance_role_may_read_the_tls_zip_and_only_that_object():
    assert roles_reading(TLS_KEY) == ["InstanceRole.ReadTlsCertificatesForEmr"]
    (statement,) = [
        s for s in statements(resource(CLUSTER, "InstanceRole")) if s["Sid"].startswith("ReadTls")
    ]
    assert statement["Resource"] == TLS_KEY and "*" not in statement["Resource"]
    assert statement["Action"] == "s3:GetObject"
    # The zip sits outside the artifacts prefix, which the Serverless jobs read as well.
    assert roles_reading(ARTIFACT) == ["InstanceRole.ReadArtifacts", "JobRole.ReadArtifacts"]
    security = resource(CLUSTER, "SecurityConfiguration")["SecurityConfiguration"]
    tls = security["EncryptionConfiguration"]["InTransitEncryptionConfiguration"]
    assert tls["TLSCertificateConfiguration"]["S3Object"] == "s3://" + TLS_KEY.split(":::")[1]


def world_ingress(template: dict) -> List[str]:
    """Security group rules of a template that admit 0.0.0.0/0 or ::/0, as 'resource:from-to'."""
    found = []
    for name, body in template["Resources"].items():
        properties = body.get("Properties", {})
        if body["Type"] == "AWS::EC2::SecurityGroup":
            rules = properties.get("SecurityGroupIngress", [])
        elif body["Type"] == "AWS::EC2::SecurityGroupIngress":
            rules = [properties]
        else:
            continue
        for rule in rules:
            if rule.get("CidrIp") in WORLD or rule.get("CidrIpv6") in WORLD:
                found.append(f"{name}:{rule.get('FromPort', 0)}-{rule.get('ToPort', 65535)}")
    return found


def test_the_world_ingress_search_finds_an_open_livy_port():
    open_livy = {
        "Resources": {
            "Notebooks": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {
                    "SecurityGroupIngress": [
                        {
                            "IpProtocol": "tcp",
                            "FromPort": 8998,
                            "ToPort": 8998,
                            "CidrIp": "0.0.0.0/0",
                        }
                    ]
                },
            },
            "Gateway": {
                "Type": "AWS::EC2::SecurityGroupIngress",
                "Properties": {"IpProtocol": "-1", "CidrIpv6": "::/0"},
            },
        }
    }
    assert world_ingress(open_livy) == ["Notebooks:8998-8998", "Gateway:0-65535"]


@pytest.mark.parametrize("template", [CLUSTER, SERVERLESS], ids=["cluster", "serverless"])
def test_no_security_group_rule_admits_anywhere(template):
    assert world_ingress(template) == []


def test_livy_and_the_gateway_stay_inside_the_clusters_managed_groups():
    properties = resource(CLUSTER, "Cluster")
    names = {app["Name"] for app in properties["Applications"]}
    assert set(NOTEBOOK_PORTS) <= names  # what the no-ingress rule protects
    security_groups = {
        "EmrManagedMasterSecurityGroup",
        "EmrManagedSlaveSecurityGroup",
        "ServiceAccessSecurityGroup",
        "AdditionalMasterSecurityGroups",
        "AdditionalSlaveSecurityGroups",
    }
    request = spec.cluster_request(
        name="x",
        layout=spec.Layout(BUCKET),
        python="python3.11",
        instances=spec.Instances("subnet-0example"),
        bootstrap={},
        steps=[],
        service_role="r",
        instance_profile="p",
        security_configuration="c",
    )
    for instances in (properties["Instances"], request["Instances"]):
        assert not security_groups & set(instances)
        assert "Ec2KeyName" not in instances
