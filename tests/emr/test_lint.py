"""cfn-lint on every template and shellcheck on every script of emr/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import EMR_DIR

BIN = Path(sys.executable).parent
TEMPLATES = sorted(EMR_DIR.rglob("*.yaml"))
SCRIPTS = sorted(EMR_DIR.rglob("*.sh"))


def test_the_folder_has_templates_and_scripts():
    assert len(TEMPLATES) >= 2 and len(SCRIPTS) >= 5


def test_cfn_lint_passes_on_every_template():
    # One run for all templates: cfn-lint takes seconds to start; its report names the file.
    result = subprocess.run(
        [str(BIN / "cfn-lint"), *map(str, TEMPLATES)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_shellcheck_passes(script):
    result = subprocess.run(
        [str(BIN / "shellcheck"), "--severity=style", str(script)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_scripts_are_executable_and_fail_fast(script):
    lines = script.read_text().splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert any(line.startswith("set -") and "euo pipefail" in line for line in lines[:10])
    assert os.access(script, os.X_OK)
