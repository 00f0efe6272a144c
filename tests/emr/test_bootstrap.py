"""install-abcspark.sh run for real: into throwaway virtual environments, S3 served by moto,
pip in hash-checking mode (--require-hashes) as on the EMR nodes."""

from __future__ import annotations

import hashlib
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from .conftest import EMR_DIR

TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ install-abcspark: ")
REFUSED = "pyspark===provided-by-emr"
HASH_MISMATCH = "THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE"


def make_wheel(folder: Path, name: str, version: str, requires=()) -> Path:
    """A minimal pure-Python wheel (one module) for a package these tests invent."""
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {item}\n" for item in requires)
    files = {
        f"{module}/__init__.py": f"__version__ = {version!r}\n",
        f"{dist_info}/METADATA": metadata,
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    path = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
        record = "".join(f"{member},,\n" for member in [*files, f"{dist_info}/RECORD"])
        archive.writestr(f"{dist_info}/RECORD", record)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hashed(*wheels: Path) -> str:
    """Requirement lines pinning each invented wheel by version and sha256."""
    lines = []
    for wheel in wheels:
        name, version = wheel.name.split("-")[:2]
        lines.append(f"{name.replace('_', '-')}=={version} \\\n    --hash=sha256:{sha256(wheel)}\n")
    return "".join(lines)


def python_output(python: Path, code: str) -> str:
    """What ``code`` prints under ``python``, isolated (-I) from the checkout it runs in."""
    return subprocess.run(
        [str(python), "-I", "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()


def installed(python: Path, name: str) -> bool:
    code = (
        f"from importlib import metadata\ntry:\n    metadata.version({name!r})\n"
        "except metadata.PackageNotFoundError:\n    print('absent')"
    )
    return python_output(python, code) != "absent"


def site_snapshot(python: Path) -> dict:
    """Path -> modification time of everything in the environment's site-packages."""
    purelib = Path(python_output(python, "import sysconfig; print(sysconfig.get_path('purelib'))"))
    return {str(path): path.stat().st_mtime_ns for path in purelib.rglob("*")}


def wheelhouse_tag(python: Path) -> str:
    """The sub-folder install-abcspark.sh reads for this Python, e.g. python3.11-x86_64."""
    return python_output(
        python,
        "import platform, sys; print('python%d.%d-%s' % "
        "(sys.version_info[0], sys.version_info[1], platform.machine()))",
    )


@pytest.fixture
def index(tmp_path) -> Path:
    """A folder of invented wheels that pip may read (PIP_FIND_LINKS): findspark 2.0.1."""
    folder = tmp_path / "index"
    folder.mkdir()
    make_wheel(folder, "findspark", "2.0.1")  # the real one needs no index either
    return folder


@pytest.fixture
def upload(s3, bucket, tmp_path):
    """Put a text file on S3 under artifacts/; its s3:// URI."""

    def put(key: str, text: str) -> str:
        path = tmp_path / key.replace("/", "_")
        path.write_text(text)
        s3.upload_file(str(path), bucket, f"artifacts/{key}")
        return f"s3://{bucket}/artifacts/{key}"

    return put


@pytest.fixture
def artifacts(s3, bucket, abcspark_wheel, index, upload):
    """The wheel and a hash-pinned requirements file on S3; a function giving their URIs.

    The requirements pin the invented findspark by hash; numpy, pandas, pyarrow and matplotlib
    are installed already (borrowed), and pip does not download, so does not hash, those.
    """
    s3.upload_file(str(abcspark_wheel), bucket, f"artifacts/wheels/{abcspark_wheel.name}")
    upload(
        "bootstrap/requirements.txt",
        "# invented\n" + hashed(index / "findspark-2.0.1-py3-none-any.whl"),
    )
    return lambda key: f"s3://{bucket}/artifacts/{key}"


def upload_wheelhouse(s3, bucket: str, python: Path, wheels) -> str:
    prefix = f"artifacts/wheelhouse/{wheelhouse_tag(python)}"
    for wheel in wheels:
        s3.upload_file(str(wheel), bucket, f"{prefix}/{wheel.name}")
    return f"s3://{bucket}/artifacts/wheelhouse"


def test_installs_the_wheel_from_s3_by_hash_and_a_rerun_is_a_no_op(
    run_bootstrap, fresh_venv, artifacts, abcspark_wheel, index
):
    version = abcspark_wheel.name.split("-")[1]
    args = (
        "--wheel",
        artifacts(f"wheels/{abcspark_wheel.name}"),
        f"--requirements={artifacts('bootstrap/requirements.txt')}",
    )
    assert not installed(fresh_venv, "abcspark")

    first = run_bootstrap(*args, python=fresh_venv, PIP_FIND_LINKS=str(index))
    assert first.returncode == 0, first.stdout + first.stderr
    where = "import abcspark; print(abcspark.__version__, abcspark.__file__)"
    imported_version, location = python_output(fresh_venv, where).split()
    assert imported_version == version
    assert location.startswith(str(fresh_venv.parents[1]))  # the wheel, not the checkout
    assert all(TIMESTAMPED.match(line) for line in first.stdout.splitlines()), first.stdout
    (pip_run,) = [line for line in first.stdout.splitlines() if " run: " in line]
    assert "-m pip install" in pip_run
    assert "--require-hashes --only-binary=:all:" in pip_run
    assert f"abcspark wheel sha256 {sha256(abcspark_wheel)}" in first.stdout
    minor = python_output(fresh_venv, "import sys; print(sys.version_info[1])")
    assert f"verified python 3.{minor}." in first.stdout
    assert f"abcspark {version}, numpy " in first.stdout
    assert "on the core/task node" in first.stdout
    assert installed(fresh_venv, "findspark")  # every node: it is in the requirements

    before = site_snapshot(fresh_venv)
    second = run_bootstrap(*args, python=fresh_venv)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "already installed: nothing to do" in second.stdout
    assert " run: " not in second.stdout  # pip was not called
    assert site_snapshot(fresh_venv) == before


def test_a_wheel_that_differs_from_the_given_sha256_is_refused(
    run_bootstrap, fresh_venv, artifacts, abcspark_wheel, index
):
    result = run_bootstrap(
        "--wheel",
        artifacts(f"wheels/{abcspark_wheel.name}"),
        "--abcspark-sha256",
        "0" * 64,
        "--requirements",
        artifacts("bootstrap/requirements.txt"),
        python=fresh_venv,
        PIP_FIND_LINKS=str(index),
    )

    assert result.returncode != 0
    assert HASH_MISMATCH in result.stdout
    assert f"Got        {sha256(abcspark_wheel)}" in result.stdout
    assert not installed(fresh_venv, "abcspark")


def test_primary_node_installs_offline_from_the_wheelhouse_with_its_own_requirements(
    run_bootstrap, fresh_venv, artifacts, s3, bucket, abcspark_wheel, index, upload, tmp_path
):
    version = abcspark_wheel.name.split("-")[1]
    notebook = make_wheel(tmp_path, "notebook-tool", "1.0")
    wheels = [abcspark_wheel, index / "findspark-2.0.1-py3-none-any.whl", notebook]
    wheelhouse = upload_wheelhouse(s3, bucket, fresh_venv, wheels)
    args = (
        "--version",
        version,
        "--abcspark-sha256",
        sha256(abcspark_wheel),
        "--wheelhouse",
        wheelhouse,
        "--requirements",
        artifacts("bootstrap/requirements.txt"),
        "--primary-requirements",
        upload("bootstrap/primary.txt", hashed(notebook)),
    )

    core = run_bootstrap(*args, primary=False, python=fresh_venv)
    assert core.returncode == 0, core.stdout + core.stderr
    assert installed(fresh_venv, "abcspark") and not installed(fresh_venv, "notebook-tool")

    primary = run_bootstrap(*args, primary=True, python=fresh_venv)
    assert primary.returncode == 0, primary.stdout + primary.stderr
    assert "on the primary node" in primary.stdout
    assert "--no-index --find-links" in primary.stdout
    assert installed(fresh_venv, "notebook-tool")


def test_a_requirement_without_a_hash_is_refused(
    run_bootstrap, fresh_venv, artifacts, abcspark_wheel, index, upload
):
    result = run_bootstrap(
        "--wheel",
        artifacts(f"wheels/{abcspark_wheel.name}"),
        "--requirements",
        upload("bootstrap/unhashed.txt", "findspark==2.0.1\n"),
        python=fresh_venv,
        PIP_FIND_LINKS=str(index),
    )

    assert result.returncode != 0
    assert "Hashes are required in --require-hashes mode" in result.stdout
    assert not installed(fresh_venv, "findspark") and not installed(fresh_venv, "abcspark")


def test_the_pinned_hash_refuses_a_look_alike_wheel(
    run_bootstrap, fresh_venv, artifacts, abcspark_wheel, index, upload
):
    # findspark's entry of the real python3.11 requirements, against an invented findspark
    # 2.0.1 (same name and version, other bytes): what a tampered index or wheelhouse serves.
    text = (EMR_DIR / "bootstrap" / "requirements-python3.11.txt").read_text()
    entry = re.search(r"^findspark==2\.0\.1 \\\n(    --hash=sha256:\w+.*\n)+", text, re.M).group(0)
    result = run_bootstrap(
        "--wheel",
        artifacts(f"wheels/{abcspark_wheel.name}"),
        "--requirements",
        upload("bootstrap/real-findspark.txt", entry),
        python=fresh_venv,
        PIP_FIND_LINKS=str(index),
    )

    assert result.returncode != 0
    assert HASH_MISMATCH in result.stdout
    assert f"Got        {sha256(index / 'findspark-2.0.1-py3-none-any.whl')}" in result.stdout
    assert not installed(fresh_venv, "findspark") and not installed(fresh_venv, "abcspark")


def test_a_pip_failure_fails_the_script(run_bootstrap, fresh_venv, artifacts, abcspark_wheel):
    # --version installs from the package index: here a local one that lacks 99.0.0.
    result = run_bootstrap(
        "--version",
        "99.0.0",
        "--abcspark-sha256",
        sha256(abcspark_wheel),
        "--requirements",
        artifacts("bootstrap/requirements.txt"),
        python=fresh_venv,
        PIP_FIND_LINKS=str(abcspark_wheel.parent),
    )

    assert result.returncode != 0
    assert "No matching distribution found for abcspark==99.0.0" in result.stdout
    assert "install-abcspark: error: exit" in result.stderr
    assert not installed(fresh_venv, "abcspark")


def test_pyspark_is_refused_even_as_a_dependency(
    run_bootstrap, fresh_venv, s3, bucket, abcspark_wheel, upload, tmp_path
):
    assert not installed(fresh_venv, "pyspark")
    pyspark = make_wheel(tmp_path, "pyspark", "3.5.6")
    needs_pyspark = make_wheel(tmp_path, "needs-pyspark", "1.0", ["pyspark>=3.5"])
    wheelhouse = upload_wheelhouse(s3, bucket, fresh_venv, [abcspark_wheel, pyspark, needs_pyspark])

    result = run_bootstrap(
        "--version",
        abcspark_wheel.name.split("-")[1],
        "--abcspark-sha256",
        sha256(abcspark_wheel),
        "--wheelhouse",
        wheelhouse,
        "--requirements",
        upload("bootstrap/needs-pyspark.txt", hashed(needs_pyspark)),
        python=fresh_venv,
    )

    assert result.returncode != 0
    assert REFUSED in result.stdout
    assert not installed(fresh_venv, "pyspark")
    assert not installed(fresh_venv, "abcspark")


@pytest.mark.parametrize(
    ("listed", "message"),
    [
        ("pyspark==3.5.6 --hash=sha256:" + "0" * 64, "pyspark is refused: EMR provides Spark"),
        ("abcspark==0.1.0 --hash=sha256:" + "0" * 64, "abcspark comes from --wheel or --version"),
        ("--index-url https://example.invalid/simple", "must not be there"),
    ],
)
def test_requirement_files_that_name_pyspark_abcspark_or_options_are_refused(
    run_bootstrap, fresh_venv, artifacts, abcspark_wheel, upload, listed, message
):
    uri = upload("bootstrap/bad.txt", f"# a comment\n{listed}\n")
    result = run_bootstrap(
        "--wheel",
        artifacts(f"wheels/{abcspark_wheel.name}"),
        "--requirements",
        uri,
        python=fresh_venv,
    )

    assert result.returncode == 1
    assert f"{uri}: " in result.stderr and message in result.stderr
    assert " run: " not in result.stdout  # pip was not called
    assert not installed(fresh_venv, "abcspark")


WHEEL_URI = "s3://my-abc-bucket/w/abcspark-0.1.0-py3-none-any.whl"
REQUIREMENTS = ("--requirements", "s3://my-abc-bucket/r.txt")
SHA256 = ("--abcspark-sha256", "ab" * 32)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give --wheel or --version"),
        (("--wheel", WHEEL_URI, "--version", "0.1.0"), "not both"),
        (("--version",), "--version needs a value"),
        (("--wheel", WHEEL_URI), "give --requirements"),
        (("--version", "latest", *SHA256, *REQUIREMENTS), "--version must be a version"),
        (("--version", "0.1.0", *REQUIREMENTS), "--version needs --abcspark-sha256"),
        (
            ("--wheel", WHEEL_URI, "--abcspark-sha256", "ABC", *REQUIREMENTS),
            "--abcspark-sha256 must be 64 lowercase hex digits",
        ),
        (("--wheel", "/tmp/abcspark-0.1.0-py3-none-any.whl"), "--wheel must be an s3:// URI"),
        (
            ("--wheel", "s3://my-abc-bucket/notes.txt", *REQUIREMENTS),
            "--wheel must name an abcspark wheel",
        ),
        (("--version", "0.1.0", "--wheelhouse", "wheels/"), "--wheelhouse must be an s3:// URI"),
        (("--wheel", WHEEL_URI, "--requirements", "r.txt"), "--requirements must be an s3:// URI"),
        (
            ("--wheel", WHEEL_URI, *REQUIREMENTS, "--primary-requirements=/tmp/jupyter.txt"),
            "--primary-requirements must be an s3:// URI",
        ),
        (("--version", "0.1.0", "--bogus"), "unknown argument: --bogus"),
    ],
)
def test_bad_arguments_print_the_usage(run_bootstrap, args, message):
    result = run_bootstrap(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Usage: install-abcspark.sh" in result.stderr
    assert result.stdout == ""


def test_help_documents_the_overrides(run_bootstrap):
    result = run_bootstrap("--help")
    assert result.returncode == 0
    for name in (
        "ABCSPARK_PYTHON",
        "ABCSPARK_SUDO",
        "ABCSPARK_AWS",
        "ABCSPARK_S3_ENDPOINT_URL",
        "ABCSPARK_INSTANCE_JSON",
    ):
        assert name in result.stdout


def test_off_emr_without_an_instance_file_it_fails(run_bootstrap, fresh_venv):
    args = ("--version", "0.1.0", *SHA256, *REQUIREMENTS)
    result = run_bootstrap(*args, primary=None, python=fresh_venv)
    assert result.returncode == 1
    assert "cannot read the node role" in result.stderr
