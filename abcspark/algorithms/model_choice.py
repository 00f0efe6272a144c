"""ABC model choice: ABC-SMC over several models (Toni et al. 2009) on PMC's machinery."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from abcspark.algorithms.pmc import PMCABC
from abcspark.history import history_frame
from abcspark.model_space import ModelProposal, ModelSpace, model_space
from abcspark.posterior import Posterior
from abcspark.rows import statistics
from abcspark.validation import real


class ModelChoice(PMCABC):
    """Posterior model probabilities and a posterior per model, by ABC-SMC over the models.

    Each particle is a model and its parameters. Generation 0 draws models from their prior
    probabilities and parameters from the model's prior. Each later generation lowers epsilon
    as PMC does, picks a model by the last generation's model probabilities, keeps it with
    probability ``model_stay`` or moves to another model still alive, and perturbs the
    parameters with ``kernel`` fitted to that model's particles. The weight is ``prior(model,
    theta) / (P(model) q_model(theta))``, ``P(model) = sum_i p_i K(model | i)``. A model left
    with fewer than two particles is no longer proposed (its probability stays 0).

    Parameters
    ----------
    models : dict of str to (Prior, callable)
        Each model's prior and vectorized simulator ``(theta (n, d), rng) -> (n, k)``; every
        simulator returns the same ``k`` summary statistics.
    distance : str, Distance or callable, default 'euclidean'
        As for :class:`~abcspark.PMCABC`.
    model_probabilities : sequence of float, optional
        Prior probability of each model, in the order of ``models``; uniform by default.
    model_stay : float, default 0.7
        Probability that a proposal keeps its particle's model (pyABC's default too).
    **options
        Any :class:`~abcspark.PMCABC` option (``n_particles``, ``generations``, ``epsilons``,
        ``max_simulations``, ``kernel``, ``engine``, ``spark``, ...).

    References
    ----------
    Toni, T., Welch, D., Strelkowa, N., Ipsen, A. and Stumpf, M. P. H. (2009). Approximate
    Bayesian computation scheme for parameter inference and model selection in dynamical
    systems. Journal of the Royal Society Interface 6(31), 187-202.

    Examples
    --------
    >>> from abcspark import ModelChoice, Normal, Prior
    >>> def shift(theta, rng):
    ...     return theta + rng.normal(size=theta.shape)
    >>> def scale(theta, rng):
    ...     return theta * rng.normal(size=theta.shape)
    >>> choice = ModelChoice(
    ...     {"shift": (Prior(a=Normal(0, 2)), shift), "scale": (Prior(b=Normal(0, 2)), scale)},
    ...     n_particles=200, generations=3, engine="numpy", progress=False)
    >>> result = choice.run([2.5], seed=1)
    >>> list(result.probabilities.index)
    ['shift', 'scale']
    """

    name = "ModelChoice"
    pools_generations = False  # see Algorithm.pools_generations

    def __init__(
        self,
        models: Mapping[str, Tuple[Any, Callable]],
        distance: Any = "euclidean",
        *,
        model_probabilities: Optional[Sequence[float]] = None,
        model_stay: float = 0.7,
        **options: Any,
    ):
        space, switch = model_space(models, model_probabilities)
        if options.pop("recycle", False) is not False:
            raise ValueError(
                "recycle must be left out of ModelChoice (got it); its particles move between "
                "models, whose proposals it does not recycle."
            )
        super().__init__(space, switch, distance, recycle=False, **options)
        self.space = space
        self.model_stay = real("model_stay", model_stay, 0, 1, open_high=True, example="0.7")
        self.model_history: Dict[int, np.ndarray] = {}

    def settings(self) -> dict:
        return {**super().settings(), "model_stay": self.model_stay}

    def run(self, observed: Any, **options: Any) -> ModelChoiceResult:  # type: ignore[override]
        """Run on ``observed``; the options (``seed``, ``checkpoint``, ``callbacks``) are PMC's.

        Returns
        -------
        ModelChoiceResult
            The model probabilities (per generation too) and each model's posterior.
        """
        self.model_history = {}
        return super().run(observed, **options)  # type: ignore[return-value]

    def _posterior(  # type: ignore[override]
        self,
        particles: pd.DataFrame,
        weights: np.ndarray,
        records: list,
        engine: Any,
        observed: Any,
        settings: Optional[dict] = None,
        **metadata: Any,
    ) -> ModelChoiceResult:
        history = history_frame(records)
        generations = history["generation"].tolist()
        missing = np.full(len(self.space.models), np.nan)
        by_generation = pd.DataFrame(
            [self.model_history.get(g, missing) for g in generations],
            index=pd.Index(generations, name="generation"),
            columns=self.space.models,
        )
        return ModelChoiceResult(
            particles.assign(weight=weights).reset_index(drop=True),
            self.space,
            history,
            self._metadata(history, engine, observed, settings, metadata),
            by_generation,
        )

    def _proposal(self, g: int, population: Optional[pd.DataFrame], epsilon: float) -> Any:
        if g == 0:
            return self.space
        fitted = self._fitted(population, epsilon)
        return ModelProposal(self.space, fitted, self.kernel, self.discrete_kernel, self.model_stay)

    def _weights(self, g: int, theta: np.ndarray, proposal: Any) -> np.ndarray:
        weights = super()._weights(g, theta, proposal)
        index = theta[:, 0].astype(int)
        self.model_history[g] = np.bincount(index, weights, minlength=len(self.space.models))
        return weights


@dataclass
class ModelChoiceResult:
    """What :meth:`ModelChoice.run` returns.

    Attributes
    ----------
    particles : pandas.DataFrame
        The last generation's (model, parameters) particles with their ``weight`` and
        ``distance``: column ``model`` holds the model's index, ``<model>_<parameter>`` its
        parameters (NaN for the other models' columns).
    space : ModelSpace
    history : pandas.DataFrame
        One row per generation, as ``Posterior.history``.
    metadata : dict
        As ``Posterior.metadata``: settings, seed, simulations, engine, versions.
    by_generation : pandas.DataFrame
        The model probabilities after each generation (NaN for generations resumed from a
        checkpoint, whose populations are not read back).
    """

    particles: pd.DataFrame = field(repr=False)
    space: ModelSpace
    history: pd.DataFrame = field(repr=False)
    metadata: dict = field(repr=False)
    by_generation: pd.DataFrame = field(repr=False)

    @property
    def probabilities(self) -> pd.Series:
        """Posterior model probabilities, by model name (the weights summed per model)."""
        index = self.particles["model"].to_numpy().astype(int)
        weights = self.particles["weight"].to_numpy()
        total = np.bincount(index, weights, minlength=len(self.space.models))
        return pd.Series(total / total.sum(), index=self.space.models, name="probability")

    def posterior(self, model: str) -> Posterior:
        """The posterior of one model's parameters: its particles, reweighted to sum to 1.

        Raises
        ------
        ValueError
            For an unknown model, or one with no particle left.
        """
        if model not in self.space.models:
            raise ValueError(f"model must be one of {self.space.models} (got {model!r}).")
        m = self.space.models.index(model)
        rows = self.particles["model"].to_numpy() == m
        if not rows.any():
            raise ValueError(
                f"model {model!r} has no particle in the last generation (its probability is "
                "0); there is no posterior of its parameters to show."
            )
        chosen = self.particles[rows].reset_index(drop=True)
        samples = chosen[[self.space.names[c] for c in self.space.columns[m]]]
        samples.columns = self.space.priors[m].names
        weights = chosen["weight"].to_numpy()
        return Posterior(
            samples,
            weights / weights.sum(),
            chosen["distance"].to_numpy(),
            self.history,
            {
                **self.metadata,
                "model": model,
                "bounds": self.space.priors[m].bounds().tolist(),
                "discrete": self.space.priors[m].discrete_names,
            },
            statistics(chosen),
        )

    def save(self, path: str, spark: Any = None, *, overwrite: bool = False) -> None:
        """Save each model's posterior under ``path/<model>`` (see :meth:`Posterior.save`)."""
        for model, probability in self.probabilities.items():
            if probability > 0:
                self.posterior(model).save(f"{path}/{model}", spark, overwrite=overwrite)

    def plot(self, path: Optional[str] = None) -> Any:
        """The model probabilities per generation, one line per model; a PNG at ``path``.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure

        from abcspark.plots import _show_inline

        fig = Figure(figsize=(6.0, 3.6), layout="constrained")
        ax = fig.add_subplot()
        for model in self.by_generation.columns:
            ax.plot(self.by_generation.index, self.by_generation[model], marker="o", label=model)
        ax.set_xlabel("generation")
        ax.set_ylabel("model probability")
        ax.set_ylim(0, 1)
        ax.legend()
        ax.set_title(
            "Model probabilities: "
            + ", ".join(f"{m} {p:.3f}" for m, p in self.probabilities.items())
        )
        _show_inline(type(fig))
        if path is not None:
            fig.savefig(path)
        return fig
