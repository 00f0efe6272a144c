"""Callbacks: what a run tells its watchers, and the MLflow logger read back from a file store."""

import numpy as np
import pandas as pd
import pytest

from abcspark import PMCABC, Callback, MLflowLogger, Posterior, RejectionABC
from abcspark.examples import height_problem
from abcspark.tracking import METRICS

PRIOR, MODEL, OBSERVED = height_problem()


class Recorder(Callback):
    """Every hook call, in order."""

    def __init__(self):
        self.calls = []

    def on_run_start(self, algorithm, seed):
        self.calls.append(("start", algorithm.name, seed))

    def on_generation(self, record):
        self.calls.append(("generation", record))

    def on_run_end(self, posterior):
        self.calls.append(("end", posterior))


def pmc(simulate=MODEL, **options):
    settings = dict(n_particles=100, generations=3, batch_size=100, engine="numpy", progress=False)
    return PMCABC(PRIOR, simulate, **{**settings, **options})


def records_of(recorder):
    return pd.DataFrame([vars(call[1]) for call in recorder.calls if call[0] == "generation"])


def test_a_callback_sees_the_start_every_generation_and_the_posterior():
    recorder = Recorder()
    posterior = pmc().run(OBSERVED, seed=4, callbacks=[recorder])
    assert recorder.calls[0] == ("start", "PMCABC", 4)
    assert recorder.calls[-1] == ("end", posterior)
    assert [c[0] for c in recorder.calls] == ["start"] + ["generation"] * 3 + ["end"]
    pd.testing.assert_frame_equal(records_of(recorder), posterior.history, check_dtype=False)


class StopAfter(Recorder):
    """Raises after generation ``last``: a run stopped from a callback."""

    def __init__(self, last):
        super().__init__()
        self.last = last

    def on_generation(self, record):
        super().on_generation(record)
        if record.generation == self.last:
            raise KeyboardInterrupt(f"stop after generation {self.last}")


def test_a_callback_that_raises_stops_the_run_and_a_resume_replays_the_saved_generations(
    tmp_path,
):
    path = str(tmp_path / "run")
    stopper = StopAfter(1)
    with pytest.raises(KeyboardInterrupt, match="stop after generation 1"):
        pmc().run(OBSERVED, seed=4, checkpoint=path, callbacks=[stopper])
    assert stopper.calls[-1] == ("end", None)
    recorder = Recorder()
    resumed = pmc().run(OBSERVED, seed=4, checkpoint=path, callbacks=[recorder])
    history = records_of(recorder)
    pd.testing.assert_frame_equal(history, resumed.history, check_dtype=False)
    pd.testing.assert_frame_equal(history.iloc[:2], records_of(stopper), check_dtype=False)
    assert recorder.calls[-1] == ("end", resumed)
    reference = pmc().run(OBSERVED, seed=4)
    np.testing.assert_array_equal(resumed.samples.to_numpy(), reference.samples.to_numpy())


def test_a_run_that_raises_ends_its_callbacks_with_none():
    def broken(theta, rng):
        raise RuntimeError("no such height")

    recorder = Recorder()
    with pytest.raises(ValueError, match="raised RuntimeError: no such height"):
        pmc(broken).run(OBSERVED, seed=1, callbacks=[recorder])
    assert recorder.calls == [("start", "PMCABC", 1), ("end", None)]


def test_rejection_reports_its_one_generation():
    recorder = Recorder()
    abc = RejectionABC(PRIOR, MODEL, batch_size=500, engine="numpy")
    posterior = abc.run(OBSERVED, quantile=0.1, n_simulations=2000, seed=2, callbacks=[recorder])
    assert [c[0] for c in recorder.calls] == ["start", "generation", "end"]
    pd.testing.assert_frame_equal(records_of(recorder), posterior.history, check_dtype=False)


@pytest.mark.parametrize("callbacks", [Recorder(), [print], "progress"])
def test_callbacks_that_are_not_a_list_of_callback_instances_are_refused(callbacks):
    with pytest.raises(TypeError, match="callbacks must be a list of abcspark.Callback instances"):
        pmc().run(OBSERVED, seed=1, callbacks=callbacks)


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch):
    """MLflow on a folder (its file store, which MLflow 3 allows only when asked)."""
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    yield mlflow, mlflow.tracking.MlflowClient()
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


def test_the_mlflow_logger_logs_settings_generations_and_the_posterior(mlflow_store, tmp_path):
    mlflow, client = mlflow_store
    logger = MLflowLogger(run_name="height")
    posterior = pmc().run(OBSERVED, seed=4, callbacks=[logger])
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "height"
    params = run.data.params
    assert params["algorithm"] == "PMCABC" and params["seed"] == "4"
    assert params["n_particles"] == "100" and params["prior.mu.type"] == "Uniform"
    for name in METRICS:
        logged = client.get_metric_history(logger.run_id, name)
        assert [m.step for m in logged] == [0, 1, 2]
        np.testing.assert_allclose([m.value for m in logged], posterior.history[name])
    total = run.data.metrics["total_simulations"]
    assert total == posterior.metadata["n_simulations"] > 0
    folder = client.download_artifacts(logger.run_id, "", str(tmp_path / "artifacts"))
    loaded = Posterior.load(f"{folder}/posterior")
    np.testing.assert_array_equal(loaded.samples.to_numpy(), posterior.samples.to_numpy())
    assert (tmp_path / "artifacts" / "posterior.png").stat().st_size > 10_000


def test_the_mlflow_logger_marks_a_failed_run_and_joins_an_active_one(mlflow_store):
    mlflow, client = mlflow_store

    def broken(theta, rng):
        raise RuntimeError("no such height")

    failing = MLflowLogger(plot=False)
    with pytest.raises(ValueError, match="no such height"):
        pmc(broken).run(OBSERVED, seed=1, callbacks=[failing])
    assert client.get_run(failing.run_id).info.status == "FAILED"
    with mlflow.start_run() as outer:
        joining = MLflowLogger(plot=False)
        pmc(generations=1).run(OBSERVED, seed=1, callbacks=[joining])
        assert joining.run_id == outer.info.run_id and mlflow.active_run() is not None
    assert client.get_run(outer.info.run_id).data.metrics["total_simulations"] > 0
