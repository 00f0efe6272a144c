"""The laptop scripts of emr/, with the programs they drive (aws, pip, docker) replaced by
recording stand-ins where a real run would need AWS, the internet or a docker daemon."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from emr_launcher import spec

from .conftest import EMR_DIR

SCRIPTS = EMR_DIR / "scripts"
BIN = Path(sys.executable).parent
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
        ["-r", str(EMR_DIR / "bootstrap" / "requirements-python3.9.txt")],
    ):
        assert any(download[i : i + 2] == option for i in range(len(download))), option
    assert {"--only-binary=:all:", "--no-deps", "--require-hashes"} <= set(download)
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


def test_pack_venv_hands_docker_a_hash_checked_build_script(tmp_path, abcspark_wheel):
    """Checks pack-venv.sh's control flow only, with a stand-in ``docker`` that records its
    arguments and writes a fake archive: the image, platform and mount asked for, the build
    script handed to the container (shellcheck-clean; pip in hash-checking mode with the Python
    3.9 requirements; venv-pack pinned by hash) and the archive moved to --output.

    Nothing is built here: no Amazon Linux image, pip or venv-pack runs, so a wrong pin, a
    missing wheel or an archive that does not start on EMR Serverless goes unnoticed.
    ``test_pack_venv_builds_an_environment_that_imports_abcspark`` below runs the real build
    where a docker daemon answers (not in this sandbox: ``docker info`` finds none).
    """
    docker = stand_in(
        tmp_path,
        "docker",
        (
            "import pathlib, shutil\n"
            "work = pathlib.Path(sys.argv[sys.argv.index('-v') + 1].split(':')[0])\n"
            f"for name in ('build.sh', 'requirements.txt'):\n"
            f"    shutil.copy(work / name, pathlib.Path({str(tmp_path)!r}) / name)\n"
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
    assert (tmp_path / "requirements.txt").read_text() == (
        EMR_DIR / "bootstrap" / "requirements-python3.9.txt"
    ).read_text()
    build = tmp_path / "build.sh"
    checked = subprocess.run(
        [str(BIN / "shellcheck"), "--shell=bash", "--severity=style", str(build)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout
    lines = build.read_text().replace("\\\n", " ").splitlines()
    pip_installs = [line for line in lines if "/bin/pip install " in line]
    assert len(pip_installs) == 2
    for command in pip_installs:
        assert "--require-hashes" in command and "--only-binary=:all:" in command
    assert "-r /work/requirements.txt -r /work/abcspark.txt" in pip_installs[0]


def docker_daemon() -> bool:
    docker = shutil.which("docker")
    return bool(docker) and subprocess.run([docker, "info"], capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not docker_daemon(), reason="no docker daemon (docker info fails)")
def test_pack_venv_builds_an_environment_that_imports_abcspark(tmp_path, abcspark_wheel):
    """The real build: Amazon Linux 2023 from Docker Hub and the pinned wheels from PyPI (needs
    both); the archive is then unpacked in a fresh container, as EMR Serverless does, and must
    import abcspark on its own Python 3.9, without a pip-installed pyspark."""
    arch = "aarch64" if platform.machine().lower() in ("arm64", "aarch64") else "x86_64"
    output = tmp_path / "env.tar.gz"
    built = subprocess.run(
        [
            "bash",
            str(EMR_DIR / "serverless" / "pack-venv.sh"),
            "--wheel",
            str(abcspark_wheel),
            "--arch",
            arch,
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    check = (
        "dnf install -y -q python3 tar gzip >/dev/null && mkdir /env && "
        "tar -xzf /work/env.tar.gz -C /env && /env/bin/python -c "
        "'import importlib.util, abcspark, matplotlib, pandas, pyarrow; "
        'print(abcspark.__version__, importlib.util.find_spec("pyspark") is None)\''
    )
    platform_flag = "linux/arm64" if arch == "aarch64" else "linux/amd64"
    ran = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--platform",
            platform_flag,
            "-v",
            f"{tmp_path}:/work",
            "amazonlinux:2023",
            "bash",
            "-c",
            check,
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.split() == [abcspark_wheel.name.split("-")[1], "True"]


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
