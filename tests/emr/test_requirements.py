"""The hash-pinned requirements of emr/bootstrap: complete, one version each, every hash named
by the wheel it belongs to, both CPU architectures of EMR, and read the same way by the
bootstrap's own parser."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from typing import Dict, List, Tuple

import pytest
from emr_launcher import spec
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from .conftest import EMR_DIR, dependency_closure

ENTRY = re.compile(
    r"^((?:# \S+\.whl\n)+)(\S+)==(\S+) \\\n((?:    --hash=sha256:\w+(?: \\\n)?)+)", re.M
)
RUNTIME = ("matplotlib", "findspark")  # beyond abcspark's own requirements: plots, the shell


def entries(python: str) -> Dict[str, Tuple[str, List[str], List[str]]]:
    """name -> (version, wheel file names, sha256 hashes) of a requirements file."""
    text = spec.requirements_file(python).read_text()
    found = {}
    for wheels, name, version, hashes in ENTRY.findall(text):
        found[canonicalize_name(name)] = (
            version,
            re.findall(r"# (\S+\.whl)", wheels),
            re.findall(r"sha256:(\w+)", hashes),
        )
    listed = re.findall(r"^([A-Za-z0-9][^\s#]*)", text, re.M)
    assert len(listed) == len(found), f"lines the pattern does not read: {listed}"
    return found


@pytest.mark.parametrize("python", spec.PYTHONS)
def test_every_entry_is_one_version_with_a_named_hash_per_wheel(python):
    tag = "cp" + python.removeprefix("python").replace(".", "")
    for name, (version, wheels, hashes) in entries(python).items():
        assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", sha) for sha in hashes), name
        assert len(wheels) == len(hashes), f"{name}: one file name per hash"
        platforms = set()
        for wheel in wheels:
            wheel_name, wheel_version, _, tags = parse_wheel_filename(wheel)
            assert (wheel_name, str(wheel_version)) == (name, version), wheel
            for found in tags:
                assert found.interpreter in (tag, "py3", "py2") and found.abi in (tag, "none")
                platforms.add(found.platform)
        if platforms != {"any"}:  # compiled: a wheel for each architecture of EMR nodes
            assert any(p.endswith("_x86_64") for p in platforms), name
            assert any(p.endswith("_aarch64") for p in platforms), name


@pytest.mark.parametrize("python", spec.PYTHONS)
def test_pins_cover_abcspark_and_never_pyspark(python, abcspark_wheel):
    pins = entries(python)
    with zipfile.ZipFile(abcspark_wheel) as wheel:
        (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        requires = Parser().parsestr(wheel.read(metadata).decode()).get_all("Requires-Dist")
    needed = [Requirement(line) for line in requires if "extra ==" not in line]
    needed += [Requirement(name) for name in RUNTIME]
    for requirement in needed:
        version = pins[canonicalize_name(requirement.name)][0]
        assert requirement.specifier.contains(version), (requirement, version)
    assert {"pyspark", "abcspark"}.isdisjoint(pins)
    assert int(pins["pandas"][0].split(".")[0]) < 3  # Spark 3.5 on EMR 7


def test_python311_pins_are_the_closure_of_what_the_nodes_need_and_fit_together():
    # The test environment runs Python 3.11, with these versions when it was built from the
    # pins: the metadata of what it has gives the dependency closure (nothing may be missing
    # or extra) and, for every pin it has at that version, what the pin requires of the others.
    pins = entries("python3.11")
    closure = dependency_closure(["numpy", "pandas", "pyarrow", *RUNTIME])
    assert set(closure) == set(pins)
    checked = 0
    for name, dist in closure.items():
        if dist.version != pins[name][0]:
            continue
        checked += 1
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pinned = pins[canonicalize_name(requirement.name)][0]
                assert requirement.specifier.contains(pinned), (name, requirement, pinned)
    assert checked, "the test environment has none of the pinned versions"


@pytest.mark.parametrize("python", spec.PYTHONS)
def test_the_bootstrap_reads_the_same_requirements(python):
    script = (EMR_DIR / "bootstrap" / "install-abcspark.sh").read_text()
    parser = re.search(r"^readonly REQUIREMENTS_PY='\n(.*?)^'$", script, re.S | re.M).group(1)
    path = spec.requirements_file(python)
    listed = subprocess.run(
        [sys.executable, "-I", "-c", parser, str(path), str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert listed == [f"{name}=={version}" for name, (version, _, _) in entries(python).items()]
