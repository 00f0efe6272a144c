"""Executors without abcspark get it shipped; each generation's broadcast is destroyed.

One spark-submit application (jobs/release_job.py) reports what it observed; see its
docstring for how broadcast blocks are counted.
"""

import json
from pathlib import Path

import pytest
from cluster_models import SEED, SETTINGS

from abcspark import PMCABC, Posterior
from abcspark.examples import HeightModel, height_problem

from .test_submit import assert_same

pytestmark = pytest.mark.cluster
JOB = Path(__file__).parent / "jobs" / "release_job.py"


@pytest.fixture(scope="module")
def release(standalone, module_drivers):
    """(report, output folder, driver log) of one run of the release job."""
    standalone.replace_dead_workers()
    output = module_drivers.folder / "release"
    command = ["spark-submit", "--master", standalone.master_url, JOB, output]
    code, log = module_drivers.run("release", command)
    assert code == 0, log[-3000:]
    return json.loads((output / "report.json").read_text()), output, log


def test_executors_without_abcspark_get_it_shipped(release, standalone):
    report, output, log = release
    assert report["master"] == standalone.master_url
    assert report["importable_before"] == [False, False]  # the executors' own Python lacks it
    assert report["importable_after"] == [True, True]
    assert "shipped abcspark to the executors" in log
    prior, _, observed = height_problem()
    expected = PMCABC(prior, HeightModel(), **SETTINGS, engine="numpy").run(observed, seed=SEED)
    assert_same(Posterior.load(str(output / "posterior")), expected)


def test_broadcasts_of_all_generations_are_destroyed_everywhere(release):
    report = release[0]
    assert report["control_holders"] >= 2  # a live broadcast: on the driver and executors
    assert len(report["broadcasts"]) == SETTINGS["generations"]
    for generation, broadcast in enumerate(report["broadcasts"]):
        assert broadcast["held_before_release"] >= 2, (generation, broadcast)
        assert broadcast["held_after_run"] == 0, (generation, broadcast)
        assert not broadcast["valid"] and not broadcast["driver_file_exists"], broadcast
