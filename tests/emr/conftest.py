"""Fixtures for tests/emr: fake AWS credentials, S3 and EMR served by moto on 127.0.0.1, the
abcspark wheel, and throwaway virtual environments for running the bootstrap action for real.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from importlib import metadata
from pathlib import Path
from typing import Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
EMR_DIR = ROOT / "emr"
BIN = Path(sys.executable).parent
# The runtime closure that the throwaway environments borrow from this one, so that pip only
# has to install the abcspark wheel, offline.
BORROWED = ("numpy", "pandas", "pyarrow", "matplotlib")

sys.path.insert(0, str(EMR_DIR))  # the launcher is run as emr/launch.py: emr/ is its root


@pytest.fixture(scope="session", autouse=True)
def fake_aws_credentials(tmp_path_factory):
    """Fake credentials and region only; no real AWS configuration is read."""
    missing = tmp_path_factory.mktemp("aws") / "absent"
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.setenv("AWS_CONFIG_FILE", str(missing))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(missing))
        yield


@pytest.fixture(scope="session")
def moto_endpoint(fake_aws_credentials):
    """URL of a moto server (S3, EMR, ...) on 127.0.0.1, stopped after the session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(moto_endpoint):
    import boto3

    return boto3.client("s3", endpoint_url=moto_endpoint)


@pytest.fixture
def emr(moto_endpoint):
    import boto3

    return boto3.client("emr", endpoint_url=moto_endpoint)


@pytest.fixture
def bucket(s3):
    """A fresh, empty bucket on the moto server."""
    name = f"abcspark-test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def aws_cli():
    """The aws CLI the bootstrap script calls (the awscli package of the test environment)."""
    found = shutil.which("aws", path=str(BIN)) or shutil.which("aws")
    if found is None:
        pytest.fail("the bootstrap tests need the aws CLI: pip install awscli")
    return found


@pytest.fixture(scope="session")
def abcspark_wheel(tmp_path_factory):
    """The abcspark wheel, built from a copy of the checkout (the checkout stays untouched)."""
    source = tmp_path_factory.mktemp("source") / "abcspark"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv*",
            "__pycache__",
            "*.egg-info",
            "build",
            "dist",
            "results",
            ".*_cache",
            "benchmarks",
            "tests",
            "emr",
        ),
    )
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(dist),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("abcspark-*.whl")
    return wheel


def dependency_closure(names):
    """The installed distributions that ``names`` need, by canonical name."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found, todo = {}, list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name not in found:
            found[name] = metadata.distribution(name)
            for line in found[name].requires or []:
                requirement = Requirement(line)
                if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                    todo.append(requirement.name)
    return found


@pytest.fixture(scope="session")
def borrowed_site(tmp_path_factory):
    """(folder of links to BORROWED and their dependencies, pins of their versions)."""
    folder = tmp_path_factory.mktemp("borrowed")
    closure = dependency_closure(BORROWED)
    for dist in closure.values():
        site = Path(dist.locate_file(""))
        for top in {Path(str(file)).parts[0] for file in dist.files or []} - {".."}:
            if not (folder / top).exists() and (site / top).exists():
                (folder / top).symlink_to(site / top)
    pins = sorted(f"{dist.metadata['Name']}=={dist.version}" for dist in closure.values())
    return folder, pins


@pytest.fixture
def fresh_venv(tmp_path, borrowed_site):
    """A new virtual environment without abcspark that sees numpy, pandas, pyarrow, matplotlib.

    Made with --system-site-packages for pip, plus a .pth file for the borrowed packages.
    """
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
        check=True,
    )
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "borrowed.pth").write_text(f"{borrowed_site[0]}\n")
    if subprocess.run([str(python), "-I", "-c", "import pip"], capture_output=True).returncode:
        subprocess.run([str(python), "-I", "-m", "ensurepip"], check=True, capture_output=True)
    return python


@pytest.fixture
def run_bootstrap(tmp_path, moto_endpoint, aws_cli):
    """Run install-abcspark.sh with S3 on moto, no sudo, and a fake EMR instance file."""

    def run(*args: str, primary: Optional[bool] = False, python: Optional[Path] = None, **pip):
        """``primary`` None: no instance file at all, as off EMR; ``pip``: PIP_* settings."""
        instance = tmp_path / "instance.json"
        if primary is not None:
            instance.write_text(json.dumps({"isMaster": primary, "instanceGroupId": "ig-TEST"}))
        env = dict(
            os.environ,
            ABCSPARK_SUDO="",
            ABCSPARK_AWS=aws_cli,
            ABCSPARK_S3_ENDPOINT_URL=moto_endpoint,
            ABCSPARK_INSTANCE_JSON=str(instance),
            PIP_NO_INDEX="1",
            PIP_CONFIG_FILE=os.devnull,
            PYTHONNOUSERSITE="1",
            **pip,
        )
        if python is not None:
            env["ABCSPARK_PYTHON"] = str(python)
        return subprocess.run(
            ["bash", str(EMR_DIR / "bootstrap" / "install-abcspark.sh"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,  # whose abcspark/ must not pass for an installed abcspark
        )

    return run
