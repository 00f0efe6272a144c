"""`MLflowLogger`: a run's settings, generations and posterior in MLflow (optional)."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any, Optional

from abcspark.callbacks import Callback
from abcspark.history import GenerationRecord

log = logging.getLogger("abcspark")

METRICS = (
    "epsilon",
    "acceptance_rate",
    "ess",
    "n_simulations",
    "n_proposals",
    "n_discarded",
    "n_after_last",
    "n_reused",
    "n_failed",
    "seconds",
)
"""The history columns logged as metrics, at the generation as the step."""
MAX_PARAM_LENGTH = 6000
"""MLflow's longest parameter value; a longer one (a long prior) is cut with a note."""


class MLflowLogger(Callback):
    """Log a run to MLflow: settings as parameters, generations as metrics, the posterior.

    Parameters (``mlflow.log_params``): the algorithm's name, the seed and every setting that
    decides the result (``algorithm.settings()``, nested ones as ``prior.mu.low``). Metrics, at
    each generation as the step: epsilon, acceptance rate, ESS and the simulations, proposals,
    discarded and failed simulations, particles reused and seconds; at the end
    ``total_simulations`` (every simulator call, ``posterior.metadata["n_simulations"]``).
    Artifacts: the saved posterior (``posterior/``, :meth:`~abcspark.Posterior.load` reads it
    back) and its plot (``posterior.png``, when matplotlib is installed).

    It logs into the active MLflow run and leaves it open; without one it starts a run and ends
    it, ``FAILED`` if the ABC run raised. The tracking URI is MLflow's (``MLFLOW_TRACKING_URI``
    or ``mlflow.set_tracking_uri``): a folder, a server, Databricks.

    Parameters
    ----------
    run_name : str, optional
        Name of the MLflow run it starts.
    plot : bool, default True
        Log the posterior's plot.

    Raises
    ------
    ImportError
        If MLflow is not installed (``pip install mlflow-skinny`` or ``abcspark[mlflow]``).

    Examples
    --------
    >>> from abcspark import MLflowLogger
    >>> logger = MLflowLogger(run_name="height", plot=False)

    ``PMCABC(prior, simulate).run(observed, seed=1, callbacks=[logger])`` then logs the run.
    """

    def __init__(self, run_name: Optional[str] = None, plot: bool = True) -> None:
        try:
            import mlflow
        except ImportError:
            raise ImportError(
                "MLflowLogger needs MLflow (not installed); pip install mlflow-skinny, or "
                "abcspark[mlflow]."
            ) from None
        self.mlflow, self.run_name, self.plot = mlflow, run_name, plot
        self.run_id: Optional[str] = None
        self._started = False

    def on_run_start(self, algorithm: Any, seed: int) -> None:
        """Start (or join) the MLflow run and log the settings."""
        active = self.mlflow.active_run()
        self._started = active is None
        run = self.mlflow.start_run(run_name=self.run_name) if active is None else active
        self.run_id = run.info.run_id
        settings = {"algorithm": algorithm.name, "seed": seed, **algorithm.settings()}
        self.mlflow.log_params(flat_params(settings))

    def on_generation(self, record: GenerationRecord) -> None:
        """Log the generation's figures as metrics at step ``record.generation``."""
        metrics = {name: float(getattr(record, name)) for name in METRICS}
        self.mlflow.log_metrics(metrics, step=record.generation)

    def on_run_end(self, posterior: Optional[Any]) -> None:
        """Log the posterior and its plot, and end the run if this logger started it."""
        if posterior is not None:
            self.mlflow.log_metric("total_simulations", posterior.metadata["n_simulations"])
            with tempfile.TemporaryDirectory(prefix="abcspark-mlflow-") as folder:
                posterior.save(str(Path(folder) / "posterior"))
                self.mlflow.log_artifacts(folder)
                if self.plot:
                    self._log_plot(posterior, Path(folder) / "posterior.png")
        if self._started:
            self.mlflow.end_run(status="FINISHED" if posterior is not None else "FAILED")
            self._started = False

    def _log_plot(self, posterior: Any, path: Path) -> None:
        try:
            posterior.plot(str(path))
        except ImportError as error:
            log.warning("MLflowLogger: no posterior plot logged (%s)", error)
            return
        self.mlflow.log_artifact(str(path))


def flat_params(settings: dict, prefix: str = "") -> dict:
    """``settings`` with nested dicts flattened to dotted keys and values as MLflow strings.

    >>> flat_params({"n": 3, "prior": {"mu": {"type": "Uniform", "low": 0.0}}})
    {'n': '3', 'prior.mu.type': 'Uniform', 'prior.mu.low': '0.0'}
    """
    flat = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flat_params(value, f"{name}."))
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=repr)
        if len(text) > MAX_PARAM_LENGTH:
            text = text[: MAX_PARAM_LENGTH - 20] + " ... (cut by abcspark)"
        flat[name] = text
    return flat
