"""Random-forest model choice against ABC-SMC and rejection, at equal simulations.

Run from the repository root::

    .venv/bin/python benchmarks/forest_choice.py --budgets 1e4 1e5

The model of ``tests/test_model_choice.py``: 5 counts, Poisson with rate ~ Gamma(2, 1) against
geometric with p ~ Beta(1, 1), equal prior odds; the statistics (sum, sum of log x!) are
sufficient for both models together, so the exact P(model | data) is known for every dataset.
Observed datasets: the 13 of ``tests/test_forest_choice.py`` (exact P(selected) 0.69 to 0.90)
and 20 drawn from the prior predictive. For each budget n:

- ``ForestModelChoice``: one reference table of n simulations (on ``local[2]``) for every
  dataset, both forests fitted on all its rows (500 trees each), one ``predict`` of all;
- ``rejection``: on the same table, the share of each model among the n/100 nearest rows
  (``TableRejectionABC.run_many``, Euclidean, one pass for all datasets);
- ``ModelChoice`` (ABC-SMC): one run per dataset with ``max_simulations=n`` (n / 50
  particles, epsilon quantile 0.3, until epsilon 0 or the budget), ``engine="numpy"``.

The table and the forest serve every dataset: their simulations are n in all, ModelChoice's n
per dataset. The error is |estimated P(selected model | data) - exact P(that model | data)|,
averaged over datasets; "right" counts datasets whose selected model is the exact argmax. Wall
times: the table's, then each method's on top of it (ModelChoice: the sum of its runs).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from abcspark import Beta, Gamma, ModelChoice, Prior  # noqa: E402
from abcspark.forest_choice import ForestModelChoice  # noqa: E402
from abcspark.table_inference import TableRejectionABC  # noqa: E402

N_COUNTS = 5
CHOSEN = [
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


def LGAMMA(x: np.ndarray) -> np.ndarray:  # noqa: N802 (np.vectorize's ufunc cannot be pickled)
    x = np.asarray(x, dtype=np.float64)
    return np.array([math.lgamma(v) for v in x.ravel()]).reshape(x.shape)


def counts_statistics(x: np.ndarray) -> np.ndarray:
    return np.column_stack([x.sum(axis=1), LGAMMA(x + 1.0).sum(axis=1)])


def poisson(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return counts_statistics(rng.poisson(theta[:, :1], size=(len(theta), N_COUNTS)))


def geometric(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return counts_statistics(rng.geometric(theta[:, :1], size=(len(theta), N_COUNTS)) - 1)


MODELS = {
    "poisson": (Prior(rate=Gamma(2.0, 1.0)), poisson),
    "geometric": (Prior(p=Beta(1.0, 1.0)), geometric),
}


def exact_poisson(stats: np.ndarray) -> np.ndarray:
    """P(Poisson | data) from (sum S, sum log x!): marginal likelihoods as in the tests."""
    total, log_factorials = stats[:, 0], stats[:, 1]
    log_p = LGAMMA(2 + total) - (2 + total) * math.log(N_COUNTS + 1) - log_factorials
    log_g = math.lgamma(1 + N_COUNTS) + LGAMMA(1 + total) - LGAMMA(2 + N_COUNTS + total)
    return np.exp(log_p - np.logaddexp(log_p, log_g))


def observations() -> pd.DataFrame:
    """The chosen datasets, then 20 from the prior predictive (equal odds)."""
    rng = np.random.default_rng(2016)
    drawn = []
    for _ in range(20):
        if rng.random() < 0.5:
            drawn.append(poisson(np.array([[rng.gamma(2.0)]]), rng))
        else:
            drawn.append(geometric(np.array([[rng.uniform()]]), rng))
    drawn = np.vstack(drawn)
    stats = np.vstack([counts_statistics(np.array(CHOSEN)), drawn])
    group = ["chosen"] * len(CHOSEN) + ["prior predictive"] * len(drawn)
    frame = pd.DataFrame(
        {"id": np.arange(len(stats)), "stat_0": stats[:, 0], "stat_1": stats[:, 1]}
    )
    return frame.assign(group=group)


def scored(
    method: str,
    budget: int,
    pick_poisson: np.ndarray,
    estimate: np.ndarray,
    obs: pd.DataFrame,
    seconds: float,
    simulations: int,
) -> list:
    """One row per dataset: the selected model's estimated and exact probability."""
    exact = exact_poisson(obs[["stat_0", "stat_1"]].to_numpy())
    truth = np.where(pick_poisson, exact, 1 - exact)
    return [
        dict(
            method=method,
            budget=budget,
            group=g,
            error=abs(e - t),
            right=t >= 0.5,
            seconds=seconds,
            simulations=simulations,
        )
        for g, e, t in zip(obs["group"], estimate, truth)
    ]


def forest_rows(table, budget: int, obs: pd.DataFrame) -> list:
    started = time.perf_counter()
    forest = ForestModelChoice(table).fit(n_train=budget, n_trees=500, seed=1)
    found = forest.predict(obs.drop(columns="group"))
    seconds = time.perf_counter() - started
    pick = (found["model"] == "poisson").to_numpy()
    estimate = found["probability"].to_numpy()
    return scored("ForestModelChoice", budget, pick, estimate, obs, seconds, budget)


def selected(poisson_probability: np.ndarray) -> tuple:
    """The model of largest estimated probability (Poisson on a tie), and that probability."""
    pick = poisson_probability >= 0.5
    return pick, np.where(pick, poisson_probability, 1 - poisson_probability)


def rejection_rows(table, budget: int, obs: pd.DataFrame) -> list:
    from pyspark.sql import functions as F

    started = time.perf_counter()
    neighbours = TableRejectionABC(table).run_many(obs.drop(columns="group"), budget // 100)
    shares = (
        neighbours.frame.groupBy("id")
        .agg(F.avg((F.col("model") == 0).cast("double")).alias("poisson"))
        .toPandas()
        .set_index("id")
        .loc[obs["id"], "poisson"]
        .to_numpy()
    )
    neighbours.close()
    seconds = time.perf_counter() - started
    method = f"rejection ({budget // 100:,} nearest)"
    return scored(method, budget, *selected(shares), obs, seconds, budget)


def smc_rows(budget: int, obs: pd.DataFrame) -> list:
    started, found = time.perf_counter(), []
    settings = dict(
        n_particles=budget // 50,
        generations=30,
        epsilon_quantile=0.3,
        max_simulations=budget,
        engine="numpy",
        progress=False,
    )
    for i, row in enumerate(obs[["stat_0", "stat_1"]].to_numpy()):
        result = ModelChoice(MODELS, **settings).run(row, seed=i + 1)
        found.append(result.probabilities["poisson"])
    seconds = time.perf_counter() - started
    method, sims = "ModelChoice (ABC-SMC)", budget * len(obs)
    return scored(method, budget, *selected(np.array(found)), obs, seconds, sims)


def table(rows: pd.DataFrame, table_seconds: dict) -> str:
    lines = [
        "| budget | method | mean error: chosen 13 | prior predictive 20 | right | seconds | "
        "simulations |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (budget, method), group in rows.groupby(["budget", "method"], sort=False):
        errors = group.groupby("group")["error"].mean()
        lines.append(
            f"| {budget:.0e} | {method} | {errors['chosen']:.4f} | "
            f"{errors['prior predictive']:.4f} | {int(group['right'].sum())}/{len(group)} | "
            f"{group['seconds'].iloc[0]:.1f} | {group['simulations'].iloc[0]:,} |"
        )
    tables = ", ".join(f"{b:.0e}: {s:.1f} s" for b, s in table_seconds.items())
    return "\n".join(lines) + f"\n\nTables (one per budget, local[2]): {tables}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", nargs="+", type=float, default=[1e4, 1e5])
    args = parser.parse_args()
    from abcspark.session import get_spark

    logging.getLogger("abcspark").setLevel(logging.ERROR)  # ModelChoice's budget notices
    spark = get_spark(master="local[2]")
    spark.sparkContext.setLogLevel("ERROR")
    obs, rows, table_seconds = observations(), [], {}
    with tempfile.TemporaryDirectory() as folder:
        for budget in (int(b) for b in args.budgets):
            started = time.perf_counter()
            forest = ForestModelChoice.simulate(
                MODELS,
                budget,
                f"{folder}/table-{budget}",
                seed=budget,
                spark=spark,
                batch_size=min(10_000, budget // 10),
                parallelism=2,
            )
            table_seconds[budget] = time.perf_counter() - started
            rows += forest_rows(forest.table, budget, obs)
            rows += rejection_rows(forest.table, budget, obs)
            rows += smc_rows(budget, obs)
            print(f"budget {budget:,} done", file=sys.stderr, flush=True)
    print(table(pd.DataFrame(rows), table_seconds))


if __name__ == "__main__":
    main()
