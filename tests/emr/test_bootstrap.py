"""install-abcspark.sh run for real: into throwaway virtual environments, S3 served by moto."""

from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import pytest

TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ install-abcspark: ")
REFUSED = "pyspark===provided-by-emr"


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
def artifacts(s3, bucket, abcspark_wheel, borrowed_site, tmp_path):
    """Upload the wheel and pins; return a function giving their s3:// URIs."""
    pins = tmp_path / "constraints.txt"
    pins.write_text(
        "# pins of the borrowed packages\n" + "\n".join(borrowed_site[1]) + "\nfindspark==2.0.1\n"
    )
    s3.upload_file(str(abcspark_wheel), bucket, f"artifacts/wheels/{abcspark_wheel.name}")
    s3.upload_file(str(pins), bucket, "artifacts/bootstrap/constraints.txt")
    return lambda key: f"s3://{bucket}/artifacts/{key}"


def upload_wheelhouse(s3, bucket: str, python: Path, wheels) -> str:
    prefix = f"artifacts/wheelhouse/{wheelhouse_tag(python)}"
    for wheel in wheels:
        s3.upload_file(str(wheel), bucket, f"{prefix}/{wheel.name}")
    return f"s3://{bucket}/artifacts/wheelhouse"


def test_installs_the_wheel_from_s3_and_a_rerun_is_a_no_op(
    run_bootstrap, fresh_venv, artifacts, abcspark_wheel
):
    version = abcspark_wheel.name.split("-")[1]
    args = (
        "--wheel",
        artifacts(f"wheels/{abcspark_wheel.name}"),
        f"--constraints={artifacts('bootstrap/constraints.txt')}",
    )
    assert not installed(fresh_venv, "abcspark")

    first = run_bootstrap(*args, python=fresh_venv)
    assert first.returncode == 0, first.stdout + first.stderr
    where = "import abcspark; print(abcspark.__version__, abcspark.__file__)"
    imported_version, location = python_output(fresh_venv, where).split()
    assert imported_version == version
    assert location.startswith(str(fresh_venv.parents[1]))  # the wheel, not the checkout
    assert all(TIMESTAMPED.match(line) for line in first.stdout.splitlines()), first.stdout
    minor = python_output(fresh_venv, "import sys; print(sys.version_info[1])")
    assert f"verified python 3.{minor}." in first.stdout
    assert f"abcspark {version}, numpy " in first.stdout
    assert "on the core/task node" in first.stdout
    assert not installed(fresh_venv, "findspark")  # primary-node only

    before = site_snapshot(fresh_venv)
    second = run_bootstrap(*args, python=fresh_venv)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "already installed: nothing to do" in second.stdout
    assert " run: " not in second.stdout  # pip was not called
    assert site_snapshot(fresh_venv) == before


def test_primary_node_installs_offline_from_the_wheelhouse(
    run_bootstrap, fresh_venv, artifacts, s3, bucket, abcspark_wheel, tmp_path
):
    version = abcspark_wheel.name.split("-")[1]
    findspark = make_wheel(tmp_path, "findspark", "2.0.1")  # the real one needs no index either
    wheelhouse = upload_wheelhouse(s3, bucket, fresh_venv, [abcspark_wheel, findspark])

    result = run_bootstrap(
        "--version",
        version,
        "--wheelhouse",
        wheelhouse,
        "--constraints",
        artifacts("bootstrap/constraints.txt"),
        primary=True,
        python=fresh_venv,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "on the primary node" in result.stdout
    assert "--no-index --find-links" in result.stdout
    assert installed(fresh_venv, "abcspark") and installed(fresh_venv, "findspark")


def test_a_pip_failure_fails_the_script(run_bootstrap, fresh_venv, artifacts, abcspark_wheel):
    # --version installs from the package index: here a local one that lacks 99.0.0.
    result = run_bootstrap(
        "--version",
        "99.0.0",
        "--constraints",
        artifacts("bootstrap/constraints.txt"),
        python=fresh_venv,
        PIP_FIND_LINKS=str(abcspark_wheel.parent),
    )

    assert result.returncode != 0
    assert "No matching distribution found for abcspark==99.0.0" in result.stdout
    assert "install-abcspark: error: exit" in result.stderr
    assert not installed(fresh_venv, "abcspark")


def test_pyspark_is_refused_even_as_a_dependency(
    run_bootstrap, fresh_venv, artifacts, s3, bucket, abcspark_wheel, tmp_path
):
    assert not installed(fresh_venv, "pyspark")
    wheels = [
        abcspark_wheel,
        make_wheel(tmp_path, "pyspark", "3.5.6"),
        make_wheel(tmp_path, "needs-pyspark", "1.0", ["pyspark>=3.5"]),
    ]
    wheelhouse = upload_wheelhouse(s3, bucket, fresh_venv, wheels)

    result = run_bootstrap(
        "--version",
        abcspark_wheel.name.split("-")[1],
        "--wheelhouse",
        wheelhouse,
        "--package",
        "needs-pyspark",
        python=fresh_venv,
    )

    assert result.returncode != 0
    assert REFUSED in result.stdout
    assert not installed(fresh_venv, "pyspark")
    assert not installed(fresh_venv, "abcspark")


WHEEL_URI = "s3://my-abc-bucket/w/abcspark-0.1.0-py3-none-any.whl"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give --wheel or --version"),
        (("--wheel", WHEEL_URI, "--version", "0.1.0"), "not both"),
        (("--version",), "--version needs a value"),
        (("--version", "latest"), "--version must be a version"),
        (("--wheel", "/tmp/abcspark-0.1.0-py3-none-any.whl"), "--wheel must be an s3:// URI"),
        (("--wheel", "s3://my-abc-bucket/notes.txt"), "--wheel must name an abcspark wheel"),
        (("--version", "0.1.0", "--wheelhouse", "wheels/"), "--wheelhouse must be an s3:// URI"),
        (("--version", "0.1.0", "--package", "pyspark"), "pyspark is refused"),
        (("--version", "0.1.0", "--primary-package=PySpark==3.5.1"), "pyspark is refused"),
        (
            ("--version", "0.1.0", "--package", "https://example.invalid/x.whl"),
            "a package must be NAME[EXTRAS][SPECIFIER]",
        ),
        (("--version", "0.1.0", "--package", "abcspark[plots]"), "abcspark comes from"),
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
    result = run_bootstrap("--version", "0.1.0", primary=None, python=fresh_venv)
    assert result.returncode == 1
    assert "cannot read the node role" in result.stderr
