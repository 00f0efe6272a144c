"""ABC model choice by random forests on a reference table (Pudlo et al. 2016): a model by
majority vote, the prior error rate out of bag, and the posterior probability of the selected
model from a regression forest of the out-of-bag misclassification."""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from abcspark.model_space import model_space
from abcspark.reference_table import ReferenceTable
from abcspark.rng import FOREST, batch_rng, check_seed
from abcspark.table_observations import check_observations
from abcspark.table_results import described
from abcspark.validation import boolean, check_observed, positive_int
from abcspark.weighted import standardisation

log = logging.getLogger("abcspark")
MAX_TRAIN = 100_000  # the default bound on the training rows gathered on the driver
RIDGE = 1e-9  # on the standardised within-model covariance: constant statistics do no harm
NO_SKLEARN = "ForestModelChoice needs scikit-learn (not installed); pip install abcspark[forest]."


class ForestModelChoice:
    """Random-forest model choice (Pudlo et al. 2016) on a reference table of a ``ModelSpace``.

    :meth:`fit` trains scikit-learn's ``RandomForestClassifier`` on the table's first rows
    (statistics and their discriminant axes to the ``model`` column), then a
    ``RandomForestRegressor`` of each row's out-of-bag misclassification on the same features.
    :meth:`predict` gives the majority vote (one hard vote per tree, ties to the first model),
    the vote shares and the selected model's posterior probability, 1 - the regression
    forest's prediction at the observed statistics.

    Parameters
    ----------
    table : ReferenceTable
        Of a ``ModelSpace`` and a ``ModelSwitch`` (a ``model`` column), e.g. by :meth:`simulate`.

    Attributes
    ----------
    models : list of str
        Model names, in the order of their indices in the ``model`` column.
    training : pandas.DataFrame
        After :meth:`fit`: the training rows (``batch, index, model``, statistics) and
        ``oob_model``, each row's out-of-bag vote (-1 if every tree drew it).
    seed : int
        After :meth:`fit`: the seed of the forests (drawn afresh for ``seed=None``).

    References
    ----------
    Pudlo, P., Marin, J.-M., Estoup, A., Cornuet, J.-M., Gautier, M. and Robert, C. P. (2016).
    Reliable ABC model choice via random forests. Bioinformatics 32(6), 859-866.

    Examples
    --------
    >>> import tempfile
    >>> from abcspark import Beta, Gamma, Prior
    >>> def counts(x):  # 5 counts -> their sum and how many are zero
    ...     return np.column_stack([x.sum(axis=1), (x == 0).sum(axis=1)])
    >>> models = {
    ...     "poisson": (Prior(rate=Gamma(2.0, 1.0)),
    ...                 lambda t, rng: counts(rng.poisson(t[:, :1], (len(t), 5)))),
    ...     "geometric": (Prior(p=Beta(1.0, 1.0)),
    ...                   lambda t, rng: counts(rng.geometric(t[:, :1], (len(t), 5)) - 1))}
    >>> uri = tempfile.mkdtemp() + "/counts"  # e.g. s3://bucket/tables/counts on a cluster
    >>> forest = ForestModelChoice.simulate(models, 2000, uri, seed=1)  # on the active Spark
    >>> round(forest.fit(n_trees=50, seed=2).prior_error_rate, 2)
    0.28
    >>> found = forest.predict([8.0, 1.0])  # many datasets: a DataFrame of id and statistics
    >>> found["model"].tolist(), found["probability"].round(2).tolist()
    (['poisson'], [0.71])
    """

    def __init__(self, table: ReferenceTable) -> None:
        if not isinstance(table, ReferenceTable):
            raise TypeError(
                f"table must be a ReferenceTable (got {type(table)}); use "
                "ForestModelChoice.simulate(models, n, uri, seed=...) or ReferenceTable.open(uri)."
            )
        prior = table.metadata.get("prior")
        if "model" not in table.names or not isinstance(prior, dict) or "models" not in prior:
            raise ValueError(
                f"table must have a model column, written from a ModelSpace prior (got "
                f"parameters {table.names}); build it with ForestModelChoice.simulate(models, "
                "n, uri, seed=...) or ReferenceTable.simulate(ModelSpace(...), ModelSwitch(...))."
            )
        self.table, self.models = table, list(prior["models"])
        self.training: Optional[pd.DataFrame] = None
        self.seed: Optional[int] = None
        self._fitted: Optional[Tuple[Any, Any, Any]] = None

    @classmethod
    def simulate(
        cls,
        models: Mapping[str, Tuple[Any, Callable]],
        n: int,
        uri: str,
        *,
        seed: int,
        model_probabilities: Optional[Sequence[float]] = None,
        **options: Any,
    ) -> ForestModelChoice:
        """On ``ReferenceTable.simulate(ModelSpace(...), ModelSwitch(...), n, uri, seed=seed,
        **options)`` of ``models``, a dict of name to ``(prior, simulate)``."""
        space, switch = model_space(models, model_probabilities)
        return cls(ReferenceTable.simulate(space, switch, n, uri, seed=seed, **options))

    def fit(
        self,
        n_train: Optional[int] = None,
        n_trees: int = 500,
        *,
        seed: Optional[int] = None,
        lda: bool = True,
        n_jobs: int = 1,
    ) -> ForestModelChoice:
        """Fit both forests on the table's first ``n_train`` rows (batch order); ``self``.

        Parameters
        ----------
        n_train : int, optional
            Rows gathered on the driver (those with a non-finite statistic are left out);
            default the table's, at most 100,000.
        n_trees : int, default 500
            Trees of each forest.
        seed : int, optional
            Keys the forests' ``random_state`` through ``batch_rng(seed, 0, 0, stream=5)``.
        lda : bool, default True
            Add the ``models - 1`` linear discriminant axes to the statistics.
        n_jobs : int, default 1
            scikit-learn's threads for fitting: the same bits for any (the regression trees
            are summed in order at :meth:`predict`, not by threads).
        """
        try:
            from sklearn import ensemble
        except ImportError as exc:
            raise ImportError(NO_SKLEARN) from exc
        n_trees = positive_int("n_trees", n_trees, "500")
        options = dict(n_estimators=n_trees, n_jobs=positive_int("n_jobs", n_jobs, "1"))
        lda = boolean("lda", lda)
        started, seed = time.perf_counter(), check_seed(seed)
        sample = self._sample(n_train)
        stats, labels = sample[self.table.statistics].to_numpy(), sample["model"].to_numpy()
        axes = _lda(stats, labels, len(self.models)) if lda else None
        features = _features(stats, axes)
        states = batch_rng(seed, 0, 0, stream=FOREST).integers(2**31 - 1, size=2).tolist()
        classifier = ensemble.RandomForestClassifier(random_state=states[0], **options)
        votes = _oob_votes(classifier.fit(features, labels), features, len(self.models))
        seen = votes.sum(axis=1) > 0
        oob = np.where(seen, votes.argmax(axis=1), -1)
        regressor = ensemble.RandomForestRegressor(random_state=states[1], **options)
        regressor.fit(features[seen], (oob != labels)[seen].astype(np.float64))
        self.seed, self.training = seed, sample.assign(oob_model=oob)
        self._fitted = (axes, classifier, regressor)
        rate, seconds = self.prior_error_rate, time.perf_counter() - started
        log.info("ForestModelChoice: %d rows, prior error %.4f, %.1f s", len(oob), rate, seconds)
        return self

    @property
    def prior_error_rate(self) -> float:
        """Share of the training rows whose out-of-bag vote is not their model."""
        counts = self.confusion.to_numpy()
        return float(1.0 - np.trace(counts) / counts.sum())

    @property
    def confusion(self) -> pd.DataFrame:
        """Counts of training rows by true model (rows) and out-of-bag vote (columns)."""
        self._check_fitted()
        rows, k = self.training[self.training["oob_model"] >= 0], len(self.models)  # type: ignore
        counts = np.bincount(rows["model"] * k + rows["oob_model"], minlength=k * k)
        index, columns = pd.Index(self.models, name="true"), pd.Index(self.models, name="vote")
        return pd.DataFrame(counts.reshape(k, k), index=index, columns=columns)

    def predict(self, observed: Any, *, id_column: str = "id") -> pd.DataFrame:
        """The selected model of each observed dataset, its probability and the vote shares.

        Parameters
        ----------
        observed : array-like, shape (k,), or pandas/Spark DataFrame
            One dataset's statistics, or one row per dataset: ``id_column`` and the statistics.
        id_column : str, default 'id'

        Returns
        -------
        pandas.DataFrame
            Indexed by ``id_column`` (id 0 for one dataset): ``model`` (the selected model's
            name), ``probability`` (its posterior probability) and ``votes_<model>`` (shares).
        """
        axes, classifier, regressor = self._check_fitted()
        if isinstance(observed, pd.DataFrame) or hasattr(observed, "toPandas"):
            ids, values, _ = check_observations(observed, id_column, self.table)
        else:
            values, k = check_observed(observed, True)[None, :], len(self.table.statistics)
            if values.shape[1] != k:
                raise ValueError(
                    f"observed must have the table's k = {k} statistics {self.table.statistics} "
                    f"(got {values.shape[1]}); pass them in order, or a DataFrame of datasets."
                )
            ids = np.array([0])
        features, rows = _features(values, axes), np.arange(len(values))
        votes = np.zeros((len(values), len(self.models)))
        for tree in classifier.estimators_:
            votes[rows, tree.predict(features).astype(np.intp)] += 1
        error = sum(tree.predict(features) for tree in regressor.estimators_)  # in order
        names = np.array(self.models, dtype=object)[votes.argmax(axis=1)]
        frame = pd.DataFrame({"model": names}, index=pd.Index(ids, name=id_column))
        frame["probability"] = 1.0 - error / len(regressor.estimators_)
        for j, model in enumerate(self.models):
            frame[f"votes_{model}"] = votes[:, j] / len(classifier.estimators_)
        return frame

    def plot(self, predictions: pd.DataFrame, path: Optional[str] = None) -> Any:
        """A matplotlib Figure (a PNG at ``path``): the vote shares of :meth:`predict`'s first 40
        datasets, stacked, and each selected model's posterior probability (a dot)."""
        from matplotlib.figure import Figure

        from abcspark.plots import _show_inline

        shown = predictions.head(40)
        fig = Figure(figsize=(7.6, 1.4 + 0.28 * len(shown)), layout="constrained")
        ax = fig.add_subplot()
        rows, left = np.arange(len(shown))[::-1], np.zeros(len(shown))  # the first on top
        for model in self.models:
            share = shown[f"votes_{model}"].to_numpy()
            ax.barh(rows, share, left=left, label=model)
            left += share
        ax.plot(shown["probability"], rows, "o", color="black", label="P(selected | data)")
        ax.set_yticks(rows, [str(i) for i in shown.index])
        ax.set(xlim=(0, 1), xlabel="vote share", ylabel=str(shown.index.name))
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        ax.set_title(f"Random-forest votes (prior error rate {self.prior_error_rate:.3f})")
        _show_inline(type(fig))
        if path is not None:
            fig.savefig(path)
        return fig

    def _sample(self, n_train: Optional[int]) -> pd.DataFrame:
        """The first ``n_train`` rows in (batch, index) order, with finite statistics."""
        table = self.table
        n_train = positive_int("n_train", min(table.n, MAX_TRAIN) if n_train is None else n_train)
        if n_train > table.n:
            raise ValueError(
                f"n_train must be at most the table's {table.n:,} simulations (got "
                f"{n_train:,}); use fewer, or extend the table."
            )
        columns = ["batch", "index", "model", *table.statistics]
        with described(table.spark, f"abcspark ForestModelChoice training rows of {table.uri}"):
            rows = table.simulations(math.ceil(n_train / table.batch_size)).select(*columns)
            rows = rows.toPandas().sort_values(["batch", "index"], kind="mergesort").head(n_train)
        rows = rows[np.isfinite(rows[table.statistics].to_numpy(np.float64)).all(axis=1)]
        rows = rows.reset_index(drop=True).astype({"model": np.int64})
        counts = np.bincount(rows["model"], minlength=len(self.models))
        if (counts < 2).any():
            raise ValueError(
                f"the training rows must hold two or more of every model (got "
                f"{dict(zip(self.models, counts.tolist()))}); raise n_train."
            )
        return rows

    def _check_fitted(self) -> tuple:
        if self._fitted is None:
            raise ValueError("the forests must be fitted (got no fit); call fit(seed=1) first.")
        return self._fitted


def _lda(stats: np.ndarray, labels: np.ndarray, k: int) -> tuple:
    """``(center, scale, axes (p, k - 1))``: Fisher's discriminant axes of the statistics."""
    center, scale = standardisation(stats)
    z = (stats - center) / scale
    means = np.array([z[labels == m].mean(axis=0) for m in range(k)])
    residual, shares = z - means[labels], np.bincount(labels, minlength=k) / len(z)
    within = residual.T @ residual / len(z)
    between = (means * shares[:, None]).T @ means  # z is centred: the means' weighted spread
    inverse = np.linalg.inv(np.linalg.cholesky(within + RIDGE * np.eye(len(within))))
    _, vectors = np.linalg.eigh(inverse @ between @ inverse.T)
    return center, scale, inverse.T @ vectors[:, ::-1][:, : k - 1]


def _features(stats: np.ndarray, axes: Optional[tuple]) -> np.ndarray:
    """The statistics, and their discriminant axes, as the float32 the trees split on."""
    if axes is not None:
        center, scale, vectors = axes
        stats = np.column_stack([stats, ((stats - center) / scale) @ vectors])
    return np.asarray(stats, dtype=np.float32)


def _oob_votes(forest: Any, features: np.ndarray, k: int) -> np.ndarray:
    """``(n, k)`` votes of the trees that did not draw each row (hard votes)."""
    votes = np.zeros((len(features), k))
    for tree, drawn in zip(forest.estimators_, forest.estimators_samples_):
        rows = np.flatnonzero(np.bincount(drawn, minlength=len(features)) == 0)
        votes[rows, tree.predict(features[rows]).astype(np.intp)] += 1
    return votes
