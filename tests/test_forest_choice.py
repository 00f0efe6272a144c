"""Random-forest model choice (Pudlo et al. 2016) against the exact Poisson-vs-geometric answer."""

import math
import sys

import numpy as np
import pandas as pd
import pytest
from test_model_choice import DATA, MODELS, counts_statistics, exact_poisson_probability

from abcspark import Gamma, Prior
from abcspark.forest_choice import ForestModelChoice
from abcspark.reference_table import ReferenceTable

DATASETS = np.array(
    [
        [0, 1, 1, 2, 4],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 1],
        [0, 1, 1, 1, 2],
        [0, 1, 1, 2, 2],
        [0, 1, 1, 2, 3],
        [0, 1, 2, 2, 3],
        [0, 1, 1, 1, 1],
        [0, 1, 1, 1, 3],
        [0, 0, 0, 0, 2],
        [0, 0, 0, 0, 3],
        [1, 1, 1, 2, 3],
        [0, 1, 2, 2, 2],
    ]
)
"""Datasets of 5 counts whose exact P(selected model) is 0.69 to 0.90, none a near tie, each at
least 0.5% of the prior predictive (50 of the 10,000 training rows share its statistics)."""
MAE_BOUND = 0.08
"""Mean |P(selected | data) - exact| over DATASETS. Scratch runs of this module's settings with
table seeds 0-7 (forest seed + 1): 0.026-0.032, every selection right; the selected model's vote
share in place of the probability (a wrong implementation): 0.215 on every seed."""


def exact_poisson(stats):
    """P(Poisson | data) from the statistics (sum S, sum log x!) of 5 counts, equal prior odds.

    The marginal likelihoods of ``exact_poisson_probability`` (tests/test_model_choice.py),
    for any data: Poisson ``Gamma(2 + S) / (Gamma(2) 6^(2 + S) prod x!)``, geometric
    ``B(6, 1 + S)``.
    """
    total, log_factorials = stats[:, 0], stats[:, 1]
    lgamma = np.vectorize(math.lgamma)
    n = len(DATA)
    poisson = lgamma(2 + total) - (2 + total) * math.log(n + 1) - log_factorials
    geometric = math.lgamma(1 + n) + lgamma(1 + total) - lgamma(2 + n + total)
    return np.exp(poisson - np.logaddexp(poisson, geometric))


def observations(data):
    stats = counts_statistics(data)
    return pd.DataFrame({"id": np.arange(len(data)), "stat_0": stats[:, 0], "stat_1": stats[:, 1]})


@pytest.fixture(scope="module")
def forest(spark, tmp_path_factory):
    uri = str(tmp_path_factory.mktemp("forest") / "table")
    table = ForestModelChoice.simulate(MODELS, 10_000, uri, seed=1, spark=spark, batch_size=1000)
    return table.fit(n_trees=200, seed=2)


def test_the_selected_model_and_its_probability_match_the_exact_ones(forest):
    """Sufficient statistics, so the exact P(model | data) is known for every dataset.

    A leaf cannot split rows of equal statistics: at a dataset the regression forest averages
    the out-of-bag errors of the n_x rows that share its statistics (55 to 970 here), a
    Monte Carlo error of about sqrt(q (1 - q) / n_x), q the probability of the other model:
    0.06 for the rarest (q = 0.31, n_x = 55), less for the others and on the mean over 13.
    """
    exact = exact_poisson(counts_statistics(DATASETS))
    assert exact[0] == pytest.approx(exact_poisson_probability())  # the same answer
    found = forest.predict(observations(DATASETS))
    selected = np.where(found["model"] == "poisson", exact, 1 - exact)
    assert (selected > 0.5).all()  # the model of largest posterior probability, every time
    assert np.abs(found["probability"] - selected).mean() < MAE_BOUND
    votes = np.where(found["model"] == "poisson", found["votes_poisson"], found["votes_geometric"])
    assert np.abs(votes - selected).mean() > 2 * MAE_BOUND  # vote shares are no probability


def test_the_prior_error_rate_is_out_of_bag(forest):
    """A row's out-of-bag vote is made by trees that never saw its model, so the rate of wrong
    votes is, within Monte Carlo error, the mean exact probability that each vote is wrong.
    Scratch runs of table seeds 0-7: out-of-bag votes -0.7 to 0.7 sds from it (0.73 here);
    in-sample votes (a wrong implementation, whose probabilities here pass the other test, as
    rows of equal statistics share their leaves) 4.8 to 7.5 sds below it (5.9 here)."""
    rows = forest.training
    assert len(rows) == 10_000 and (rows["oob_model"] >= 0).all()
    poisson = exact_poisson(rows[["stat_0", "stat_1"]].to_numpy())
    wrong = np.where(rows["oob_model"] == 0, 1 - poisson, poisson)
    sd = math.sqrt((wrong * (1 - wrong)).sum()) / len(rows)
    assert abs(forest.prior_error_rate - wrong.mean()) < 4 * sd
    assert forest.prior_error_rate == (rows["oob_model"] != rows["model"]).mean()
    confusion = forest.confusion
    assert list(confusion.index) == list(confusion.columns) == ["poisson", "geometric"]
    assert confusion.sum(axis=1).tolist() == np.bincount(rows["model"]).tolist()


def test_many_datasets_give_each_dataset_s_own_prediction(forest, spark):
    many = forest.predict(observations(DATASETS))
    assert list(many.columns) == ["model", "probability", "votes_poisson", "votes_geometric"]
    assert many.index.name == "id" and list(many.index) == list(range(len(DATASETS)))
    for i, stats in enumerate(counts_statistics(DATASETS)):
        one = forest.predict(stats)
        assert one.index.tolist() == [0] and one["model"].iloc[0] == many["model"].iloc[i]
        np.testing.assert_array_equal(one.iloc[0, 1:].to_numpy(), many.iloc[i, 1:].to_numpy())
    on_spark = forest.predict(spark.createDataFrame(observations(DATASETS)))
    pd.testing.assert_frame_equal(on_spark, many, check_exact=True)


def test_the_same_seed_gives_the_same_bits_on_tables_of_any_parallelism(spark, tmp_path):
    tables = [
        ForestModelChoice.simulate(
            MODELS,
            2000,
            str(tmp_path / f"p{p}"),
            seed=5,
            spark=spark,
            batch_size=200,
            parallelism=p,
        ).table
        for p in (1, 2)
    ]
    reference = ForestModelChoice(tables[0]).fit(n_trees=40, seed=3)
    predicted = reference.predict(observations(DATASETS))
    for table, options in [(tables[0], {}), (tables[1], {}), (tables[1], {"n_jobs": 2})]:
        forest = ForestModelChoice(table).fit(n_trees=40, seed=3, **options)
        pd.testing.assert_frame_equal(
            forest.predict(observations(DATASETS)), predicted, check_exact=True
        )
        pd.testing.assert_frame_equal(forest.training, reference.training, check_exact=True)
        assert forest.prior_error_rate == reference.prior_error_rate
    other = ForestModelChoice(ReferenceTable.open(tables[0].uri, spark)).fit(40)  # a new seed
    assert reference.seed == 3 and not other.predict(observations(DATASETS)).equals(predicted)
    again = ForestModelChoice(tables[0]).fit(40, seed=other.seed)
    pd.testing.assert_frame_equal(again.training, other.training, check_exact=True)


def test_the_plot_shows_the_votes(forest, tmp_path):
    figure = forest.plot(forest.predict(observations(DATASETS)), str(tmp_path / "votes.png"))
    assert (tmp_path / "votes.png").stat().st_size > 5_000
    assert figure.axes[0].get_title().startswith("Random-forest votes (prior error rate 0.2")
    assert len(figure.axes[0].patches) == 2 * len(DATASETS)


def test_bad_tables_and_models_are_refused(spark, tmp_path):
    with pytest.raises(TypeError, match="table must be a ReferenceTable"):
        ForestModelChoice("s3://bucket/table")
    plain = ReferenceTable.simulate(
        Prior(rate=Gamma(2.0, 1.0)), MODELS["poisson"][1], 100, str(tmp_path / "t"), seed=1
    )
    with pytest.raises(
        ValueError, match=r"must have a model column, .* ForestModelChoice.simulate"
    ):
        ForestModelChoice(plain)
    with pytest.raises(TypeError, match="models must be a dict of name to"):
        ForestModelChoice.simulate([MODELS["poisson"]], 100, str(tmp_path / "u"), seed=1)


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"n_train": 0}, ValueError, "n_train must be a positive int"),
        ({"n_train": 10_001}, ValueError, "n_train must be at most the table's 10,000"),
        ({"n_train": 1}, ValueError, "two or more of every model .* raise n_train"),
        ({"n_trees": 0}, ValueError, "n_trees must be a positive int"),
        ({"n_jobs": 1.5}, ValueError, "n_jobs must be a positive int"),
        ({"lda": "yes"}, ValueError, "lda must be True or False"),
        ({"seed": -1}, ValueError, "seed must be a non-negative int"),
    ],
)
def test_bad_fit_arguments_are_refused(forest, options, error, match):
    unfitted = ForestModelChoice(forest.table)
    with pytest.raises(error, match=match):
        unfitted.fit(**{"n_trees": 5, **options})


@pytest.mark.parametrize(
    "observed, error, match",
    [
        ([8.0], ValueError, r"observed must have the table's k = 2 statistics \['stat_0'"),
        ([8.0, np.nan], ValueError, "observed must be finite"),
        (observations(DATA[None]).drop(columns="stat_1"), ValueError, "without \\['stat_1'\\]"),
    ],
)
def test_bad_observations_are_refused(forest, observed, error, match):
    with pytest.raises(error, match=match):
        forest.predict(observed)


def test_an_unfitted_forest_and_a_missing_scikit_learn_say_what_to_do(forest, monkeypatch):
    unfitted = ForestModelChoice(forest.table)
    with pytest.raises(ValueError, match=r"must be fitted .* call fit\(seed=1\)"):
        unfitted.predict(counts_statistics(DATA[None])[0])
    with pytest.raises(ValueError, match="must be fitted"):
        unfitted.prior_error_rate  # noqa: B018
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match=r"pip install abcspark\[forest\]"):
        unfitted.fit(seed=1)
