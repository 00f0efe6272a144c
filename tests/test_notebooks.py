"""The notebooks, run as users run them: top to bottom in a real Jupyter kernel on local Spark.

Each notebook runs once per test session (a kernel starts its own embedded Spark, as a user's
does); the tests then read its outputs. A cell that raises fails the run, and with it CI.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from abcspark import PMCABC, Euclidean, Prior, Uniform
from abcspark.examples import HeightModel, height_observations, summaries

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "notebooks"
NOTEBOOKS = [
    "01_quickstart.ipynb",
    "02_on_a_cluster.ipynb",
    "03_coming_from_abcpy.ipynb",
    "04_epidemic_rdd_checkpoint.ipynb",
    "05_model_choice.ipynb",
    "06_reference_tables.ipynb",
]
# Seconds per cell: the longest takes seconds on 2 idle cores, over a minute on busy ones.
CELL_TIMEOUT = 300
# Appended to every run: stop the kernel's Spark before the kernel stops, so its JVM exits
# cleanly instead of being orphaned or killed mid-shutdown.
STOP_SPARK = """
from pyspark.sql import SparkSession
if SparkSession.getActiveSession() is not None:
    SparkSession.getActiveSession().stop()
"""


def kernel_env(tmp: Path) -> dict:
    """The kernel's environment: loopback Spark, this Python for workers, this checkout first,
    and temporary folders (the notebooks' ``tempfile`` ones) under the test's own."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return dict(
        os.environ,
        SPARK_LOCAL_IP="127.0.0.1",
        PYSPARK_PYTHON=sys.executable,
        PYTHONPATH=path,
        TMPDIR=str(tmp),
    )


def execute(nb: nbformat.NotebookNode, tmp: Path) -> nbformat.NotebookNode:
    """Run ``nb`` in a new python3 kernel whose working directory is ``tmp``."""
    nb.cells.append(nbformat.v4.new_code_cell(STOP_SPARK))
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(tmp)}},
    )
    client.execute(env=kernel_env(tmp))
    return nb


def read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(str(FOLDER / name), as_version=4)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """``executed(name)``: the notebook after a run top to bottom (run once, then cached)."""
    done = {}

    def run(name: str) -> nbformat.NotebookNode:
        if name not in done:
            done[name] = execute(read(name), tmp_path_factory.mktemp(name.split(".")[0]))
        return done[name]

    return run


def cell(nb: nbformat.NotebookNode, starts: str) -> nbformat.NotebookNode:
    """The code cell whose source starts with ``starts``."""
    found = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(starts)]
    assert len(found) == 1, f"{len(found)} cells start with {starts!r}"
    return found[0]


def text(code_cell: nbformat.NotebookNode) -> str:
    """Everything the cell printed on standard output."""
    return "".join(o.text for o in code_cell.outputs if o.get("name") == "stdout")


def displays(code_cell: nbformat.NotebookNode, mime: str) -> list:
    return [
        o.data[mime]
        for o in code_cell.outputs
        if o.output_type in ("display_data", "execute_result") and mime in o.data
    ]


def height_posterior(heights, n_particles: int, generations: int, seed: int, **options):
    """The notebooks' PMC on ``heights`` (their simulator, prior and distance), NumPy engine."""
    return PMCABC(
        Prior(mu=Uniform(150, 200), sigma=Uniform(5, 25)),
        HeightModel(len(heights)),
        Euclidean(),
        n_particles=n_particles,
        generations=generations,
        engine="numpy",
        progress=False,
        **options,
    ).run(summaries(heights), seed=seed)


def test_the_notebooks_are_there():
    assert sorted(p.name for p in FOLDER.glob("*.ipynb")) == NOTEBOOKS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_valid_and_without_outputs(name):
    nb = read(name)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook without code"
    for c in code:
        assert c.outputs == [], f"cell {c.id} of {name} has outputs: strip them"
        assert c.execution_count is None, f"cell {c.id} of {name} has an execution count"
        assert "execution" not in c.metadata, f"cell {c.id} of {name} has timing metadata"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_needs_no_local_path_and_no_magic(name):
    for c in read(name).cells:
        if c.cell_type == "code":
            starts = {line[:1] for line in c.source.splitlines()}
            assert not starts & {"%", "!"}, f"a magic or shell escape in {name}: {c.source}"
            assert "/home/" not in c.source and "/Users/" not in c.source, c.source


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom(executed, name):
    nb = executed(name)
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert errors == []
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")


@pytest.mark.slow
def test_quickstart_shows_one_progress_display_and_inline_plots(executed):
    nb = executed("01_quickstart.ipynb")
    run = cell(nb, "pmc = PMCABC(")
    # One display, redrawn in place after each generation: not a line per generation.
    (progress,) = displays(run, "text/html")
    assert '<progress value="4" max="4"' in progress
    assert progress.count("<tr>") == 1 + 4  # the header and one row per generation
    assert "done: 4 generation(s), " in progress
    # The notebook never imports pyplot: the PNG comes from abcspark's own inline hook.
    assert not any("pyplot" in c.source for c in nb.cells)
    assert len(displays(cell(nb, "posterior.plot()"), "image/png")) == 1
    assert "identical: 500 particles" in text(cell(nb, "in_process = PMCABC("))


@pytest.mark.slow
def test_cluster_notebook_starts_its_own_session_without_spark(executed):
    nb = executed("02_on_a_cluster.ipynb")
    assert text(cell(nb, "import importlib.util")).startswith("new session: Spark ")
    assert "67 heights from abcspark.examples" in text(cell(nb, "import numpy as np"))
    assert text(cell(nb, "pmc = PMCABC(")).startswith("Posterior: 300 particles")
    assert len(displays(cell(nb, "posterior.plot()"), "image/png")) == 1


@pytest.mark.slow
def test_cluster_notebook_uses_an_existing_session_and_data_from_a_uri(tmp_path):
    """The pyspark shell's or EMR's ``spark`` exists before the first cell; data come by URI."""
    heights = height_observations()
    data = tmp_path / "heights.csv"
    data.write_text("".join(f"{float(h)!r}\n" for h in heights))
    nb = read("02_on_a_cluster.ipynb")
    existing = (
        "from pyspark.sql import SparkSession\n"
        "spark = SparkSession.builder.master('local[2]').appName('existing')"
        ".config('spark.ui.enabled', 'false').getOrCreate()"
    )
    nb.cells.insert(0, nbformat.v4.new_code_cell(existing))
    (index,) = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    overrides = f"DATA_URI = {data.as_uri()!r}\nN_PARTICLES, GENERATIONS, SEED = 100, 2, 5"
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(overrides))
    # Up to the inference: the cells after it are the same as in the run without a session.
    nb.cells = nb.cells[: nb.cells.index(cell(nb, "pmc = PMCABC(")) + 1]
    nb = execute(nb, tmp_path)
    assert text(cell(nb, "import importlib.util")).startswith("existing session: Spark ")
    assert f"67 heights from {data.as_uri()}" in text(cell(nb, "import numpy as np"))
    expected = height_posterior(heights, n_particles=100, generations=2, seed=5)
    # Same seed, same data: the notebook's Spark run prints the NumPy engine's posterior.
    assert text(cell(nb, "pmc = PMCABC(")) == f"{expected}\n"


@pytest.mark.slow
def test_abcpy_notebook_agrees_with_abcpys_record_and_shows_the_exact_answer(executed):
    nb = executed("03_coming_from_abcpy.ipynb")
    source = "".join(c.source for c in nb.cells)
    assert "BackendSpark(sc, parallelism=4)" in source and "(figures from" not in source
    # The notebook's run is the benchmark's: the NumPy engine gives the same posterior.
    expected = height_posterior(
        height_observations(),
        n_particles=300,
        generations=5,
        seed=1,
        batch_size=1000,
        kernel="gaussian",
        epsilons=[np.inf, 23.69, 17.64, 13.44, 11.04],
    )
    run = cell(nb, "import numpy as np\nimport pandas as pd")
    assert displays(run, "text/plain")[-1] == repr(expected)  # after the progress bar
    assert expected.epsilon == 11.04  # the final epsilon ABCpy's record reached
    # ABCpy's record (same settings) within Monte Carlo error: posterior sd / sqrt(ESS) is
    # about 0.4 for mu and 0.12 for sigma here; allow 5 of those for the two runs' difference.
    record = re.search(r"^ABCPY = \[(.*)\]$", source, re.MULTILINE).group(1)
    mu, mu_sd, sigma, sigma_sd = (float(x) for x in record.split(",")[:4])
    mean, sd = expected.mean(), expected.std()
    assert abs(mean["mu"] - mu) < 2.0 and abs(mean["sigma"] - sigma) < 0.6
    assert sd["mu"] == pytest.approx(mu_sd, rel=0.25) and sd["sigma"] == pytest.approx(
        sigma_sd, rel=0.25
    )
    side_by_side = displays(cell(nb, "# benchmarks/pmc.py"), "text/plain")[0]
    for column in ("abcspark", "ABCpy (same settings, recorded)", "exact (grid)"):
        assert column in side_by_side
    assert len(displays(cell(nb, "exact_means = "), "image/png")) == 1


@pytest.mark.slow
def test_epidemic_notebook_takes_the_rdd_path_and_resumes_from_its_checkpoint(executed):
    nb = executed("04_epidemic_rdd_checkpoint.ipynb")
    assert "vectorized=False" in cell(nb, "import os").source
    first = text(cell(nb, "import os"))
    assert "generation-0003.json" in first and "run.json" in first
    assert "from the checkpoint in" in text(cell(nb, "started = time.perf_counter()"))
    assert "generation 3 again in" in text(cell(nb, "os.remove("))
    (progress,) = displays(cell(nb, "import os"), "text/html")
    assert '<progress value="4" max="4"' in progress
    assert len(displays(cell(nb, "posterior.plot(reference=TRUTH"), "image/png")) == 1


@pytest.mark.slow
def test_model_choice_notebook_prints_the_numpy_engines_probabilities(executed):
    """The notebook runs on Spark; the same run on the NumPy engine gives the same bits."""
    import math

    import numpy as np

    from abcspark import Beta, Gamma, ModelChoice

    nb = executed("05_model_choice.ipynb")
    namespace: dict = {}
    exec(cell(nb, "import math").source, namespace)  # the notebook's data and simulators
    choice = ModelChoice(
        {
            "poisson": (Prior(rate=Gamma(2.0, 1.0)), namespace["poisson"]),
            "geometric": (Prior(p=Beta(1.0, 1.0)), namespace["geometric"]),
        },
        n_particles=1000,
        epsilons=[np.inf, 3.0, 1.0, 1e-6],
        engine="numpy",
        progress=False,
    )
    expected = choice.run(namespace["observed"], seed=7).probabilities["poisson"]
    printed = text(cell(nb, "choice = ModelChoice("))
    assert printed.startswith(f"P(poisson | data) = {expected:.4f} (exact 0.6926)")
    assert abs(expected - 0.6926) < 0.06  # 5.5 nominal MC errors at an ESS of about 400
    assert len(displays(cell(nb, "result.plot()"), "image/png")) == 1
    assert text(cell(nb, "rate = ")).startswith("Posterior: ")
    assert not math.isnan(expected)
