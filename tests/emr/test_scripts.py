"""The laptop scripts of emr/, with the programs they drive (aws, pip, docker) replaced by
recording stand-ins where a real run would need AWS, the internet or a docker daemon."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from emr_launcher import spec

from .conftest import EMR_DIR

SCRIPTS = EMR_DIR / "scripts"
STACK_VALUES = [
    "abcspark-service",
    "abcspark-instance",
    "abcspark-security",
    "alias/abcspark-test",
    "my-abc-bucket",
    "abc/artifacts",
    "abc/logs",
    "abc/results",
    "subnet-0example",
    "python3.9",
]


def stand_in(folder: Path, name: str, body: str) -> Path:
    """An executable that records its arguments in NAME.args (JSON lines), then runs body."""
    path = folder / name
    path.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"with open({str(folder / (name + '.args'))!r}, 'a') as log:\n"
        "    log.write(json.dumps(sys.argv[1:]) + '\\n')\n" + body
    )
    path.chmod(0o755)
    return path


def calls(folder: Path, name: str) -> list:
    return [json.loads(line) for line in (folder / f"{name}.args").read_text().splitlines()]


def run(script: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPTS / script), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


@pytest.mark.parametrize(
    ("region", "domain"),
    [("us-east-1", "ec2.internal"), ("eu-west-1", "eu-west-1.compute.internal")],
)
def test_tls_certificates_zip_holds_the_pem_files_emr_reads(tmp_path, region, domain):
    output = tmp_path / "certs.zip"
    result = run("make-tls-certificates.sh", region, str(output), "30")
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(output) as archive:
        assert sorted(archive.namelist()) == [
            "certificateChain.pem",
            "privateKey.pem",
            "trustedCertificates.pem",
        ]
        certificate = archive.read("certificateChain.pem")
    subject = subprocess.run(
        [shutil.which("openssl"), "x509", "-noout", "-subject", "-ext", "subjectAltName"],
        input=certificate,
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert f"CN = *.{domain}" in subject and f"DNS:*.{domain}" in subject
    assert oct(output.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        ("make-tls-certificates.sh", (), "expected REGION OUTPUT.zip"),
        ("make-tls-certificates.sh", ("useast1", "x.zip"), "REGION must look like us-east-1"),
        ("make-tls-certificates.sh", ("us-east-1", "x.tar"), "OUTPUT must end in .zip"),
        ("build-wheelhouse.sh", ("--wheel", "missing.whl"), "--wheel must be an abcspark wheel"),
        ("build-wheelhouse.sh", ("--bogus",), "unknown argument: --bogus"),
        ("run-on-emr.sh", (), "the first argument must be the stack name"),
        ("run-on-emr.sh", ("--dry-run",), "the first argument must be the stack name"),
    ],
)
def test_bad_arguments_print_the_usage(script, args, message):
    result = run(script, *args)
    assert result.returncode == 2
    assert message in result.stderr and "Usage:" in result.stderr


def test_build_wheelhouse_downloads_the_pins_for_the_nodes_and_uploads(tmp_path, abcspark_wheel):
    pip = stand_in(tmp_path, "python", "")
    aws = stand_in(tmp_path, "aws", "")
    result = run(
        "build-wheelhouse.sh",
        "--wheel",
        str(abcspark_wheel),
        "--python",
        "python3.9",
        "--arch",
        "aarch64",
        "--output",
        str(tmp_path / "wh"),
        "--upload",
        "s3://my-abc-bucket/abc/artifacts/wheelhouse/",
        PYTHON=str(pip),
        AWS=str(aws),
    )
    assert result.returncode == 0, result.stderr
    (download,) = calls(tmp_path, "python")
    folder = str(tmp_path / "wh" / "python3.9-aarch64")
    assert download[:3] == ["-m", "pip", "download"]
    for option in (
        ["--python-version", "3.9"],
        ["--abi", "cp39"],
        ["-d", folder],
        ["--platform", "manylinux_2_28_aarch64"],
        ["-r", str(EMR_DIR / "bootstrap" / "constraints-python3.9.txt")],
    ):
        assert any(download[i : i + 2] == option for i in range(len(download))), option
    assert "--only-binary=:all:" in download and "--no-deps" in download
    assert (tmp_path / "wh" / "python3.9-aarch64" / abcspark_wheel.name).is_file()
    assert calls(tmp_path, "aws") == [
        [
            "s3",
            "sync",
            "--only-show-errors",
            folder,
            "s3://my-abc-bucket/abc/artifacts/wheelhouse/python3.9-aarch64/",
        ]
    ]


def test_pack_venv_builds_in_amazon_linux_with_the_python39_pins(tmp_path, abcspark_wheel):
    docker = stand_in(
        tmp_path,
        "docker",
        (
            "import pathlib, shutil\n"
            "work = pathlib.Path(sys.argv[sys.argv.index('-v') + 1].split(':')[0])\n"
            f"shutil.copy(work / 'build.sh', {str(tmp_path / 'build.sh')!r})\n"
            "(work / 'env.tar.gz').write_bytes(b'packed')\n"
        ),
    )
    output = tmp_path / "env.tar.gz"
    result = subprocess.run(
        [
            "bash",
            str(EMR_DIR / "serverless" / "pack-venv.sh"),
            "--wheel",
            str(abcspark_wheel),
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "DOCKER": str(docker)},
    )
    assert result.returncode == 0, result.stderr
    (call,) = calls(tmp_path, "docker")
    assert call[:4] == ["run", "--rm", "--platform", "linux/amd64"]
    assert "amazonlinux:2023" in call
    assert output.read_bytes() == b"packed"
    build = (tmp_path / "build.sh").read_text()
    assert "-c /work/constraints.txt" in build and "venv-pack" in build


def test_run_on_emr_fills_the_launcher_from_the_stack(tmp_path, abcspark_wheel):
    aws = stand_in(tmp_path, "aws", f"print({chr(9).join(STACK_VALUES)!r})\n")
    result = run(
        "run-on-emr.sh",
        "abcspark-emr",
        "--dry-run",
        "--wheel",
        str(abcspark_wheel),
        "--run-name",
        "r2",
        AWS=str(aws),
        PYTHON=sys.executable,
    )
    assert result.returncode == 0, result.stderr
    (describe,) = calls(tmp_path, "aws")
    assert describe[:4] == ["cloudformation", "describe-stacks", "--stack-name", "abcspark-emr"]
    request = json.loads(result.stdout.split("emr.run_job_flow:\n")[1].split("\n[dry run]")[0])
    layout = spec.Layout("my-abc-bucket", "abc/artifacts", "abc/logs", "abc/results")
    assert request["Name"] == "abcspark-emr"
    assert request["ServiceRole"] == "abcspark-service"
    assert request["JobFlowRole"] == "abcspark-instance"
    assert request["SecurityConfiguration"] == "abcspark-security"
    assert request["LogEncryptionKmsKeyId"] == "alias/abcspark-test"
    assert request["Instances"]["Ec2SubnetId"] == "subnet-0example"
    assert request["Configurations"] == spec.load_configurations("python3.9")
    assert request["Steps"] == [spec.height_pmc_step(layout, "r2")]
    assert f"download {layout.results('r2')} to results/r2" in result.stdout


def test_run_on_emr_stops_when_the_stack_is_not_the_template(tmp_path):
    aws = stand_in(tmp_path, "aws", "print('\\t'.join(['None'] * 10))\n")
    result = run("run-on-emr.sh", "other-stack", "--dry-run", AWS=str(aws), PYTHON=sys.executable)
    assert result.returncode == 1
    assert "stack other-stack lacks outputs or parameters of cluster.yaml" in result.stderr
