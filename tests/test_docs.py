"""The documentation site: it builds with warnings as errors, its doctests pass, and every public
name has a page."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import abcspark

DOCS = Path(__file__).resolve().parent.parent / "docs"
PUBLIC = [name for name in abcspark.__all__ if name != "__version__"]


def sphinx(builder: str, out: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", builder]
    return subprocess.run(
        [*command, str(DOCS), str(out)], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    built = sphinx("html", out)
    assert built.returncode == 0, built.stderr[-3000:]
    return out


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_has_a_page_with_its_docstring(html, name):
    page = (html / "api" / f"abcspark.{name}.html").read_text()
    assert f'id="abcspark.{name}"' in page
    text = re.sub(r"\W", "", re.sub(r"<[^>]+>", "", page))  # letters and digits alone
    doc = re.sub(r":\w+:", "", getattr(abcspark, name).__doc__)  # roles such as :meth:
    summary = re.sub(r"\W", "", doc)[:24]
    assert summary in text, summary


def test_the_guide_and_the_notebooks_are_pages(html):
    assert "Checkpoints and resume" in (html / "guide.html").read_text()
    notebooks = sorted(p.stem for p in (DOCS.parent / "notebooks").glob("*.ipynb"))
    assert notebooks and all((html / "notebooks" / f"{n}.html").exists() for n in notebooks)


def test_the_doctests_of_the_documented_api_pass(tmp_path):
    ran = sphinx("doctest", tmp_path)
    report = (tmp_path / "output.txt").read_text()
    assert ran.returncode == 0, report[-3000:]
    tests = int(re.search(r"^\s*(\d+) tests$", report, re.MULTILINE).group(1))
    assert tests >= 30 and "0 failures in tests" in report, report[-500:]
