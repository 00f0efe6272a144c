"""What an inference on a table is given, checked on the driver: the distance, and many observed
datasets as a DataFrame, gathered as arrays."""

from __future__ import annotations

from typing import Any, Tuple

import numpy as np
import pandas as pd

from abcspark.semi_automatic import SemiAutomatic
from abcspark.table_metadata import TAKEN


def check_observations(observations: Any, id_column: str, table: Any) -> Tuple[Any, Any, str]:
    """``(ids (m,), observed (m, k), Spark type of the ids)`` of a DataFrame of datasets.

    Parameters
    ----------
    observations : pandas.DataFrame or pyspark.sql.DataFrame
        ``id_column`` and the table's statistic columns; other columns are ignored.
    id_column : str
    table : ReferenceTable

    Raises
    ------
    TypeError
        If it is no DataFrame, or the ids are neither integers nor strings.
    ValueError
        If a column is missing, an id is repeated or missing, a statistic is not finite, or
        ``id_column`` is the name of a column of the result.
    """
    if not isinstance(observations, pd.DataFrame) and not hasattr(observations, "toPandas"):
        raise TypeError(
            f"observations must be a pandas or Spark DataFrame (got {type(observations)}); pass "
            f"one row per dataset with an id column and the columns {table.statistics}."
        )
    columns = list(observations.columns)
    taken = {*TAKEN, *table.names, *table.statistics} - {"id"}
    if not isinstance(id_column, str) or id_column in taken:
        raise ValueError(
            f"id_column must be a column name other than the result's {sorted(taken)} (got "
            f"{id_column!r}); rename the id column."
        )
    if id_column not in columns:
        raise ValueError(
            f"id_column must name a column of observations (got {id_column!r}; the columns are "
            f"{columns}); pass id_column= the name of the id column."
        )
    absent = [s for s in table.statistics if s not in columns]
    if absent:
        raise ValueError(
            f"observations must have the table's {len(table.statistics)} statistic columns "
            f"{table.statistics} (got {columns}, without {absent}); name the columns as the "
            "table's statistics."
        )
    frame = observations[[id_column, *table.statistics]]
    if not isinstance(frame, pd.DataFrame):
        frame = frame.toPandas()
    ids = _ids(frame[id_column])
    return ids, _values(frame, table.statistics), _id_type(frame[id_column])


def _ids(ids: pd.Series) -> np.ndarray:
    if ids.isna().any() or ids.duplicated().any():
        repeated = ids[ids.duplicated()].head(3).tolist()
        raise ValueError(
            f"ids must be unique and present (got {int(ids.isna().sum())} missing, repeated "
            f"{repeated}); give each dataset its own id."
        )
    return ids.to_numpy()


def _values(frame: pd.DataFrame, statistics: list) -> np.ndarray:
    try:
        values = frame[statistics].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"the statistic columns {statistics} must hold numbers (got "
            f"{frame[statistics].dtypes.tolist()}); convert them to floats."
        ) from None
    if not np.isfinite(values).all():
        row = int(np.argmax(~np.isfinite(values).all(axis=1)))
        raise ValueError(
            f"observations must be finite (got {values[row].tolist()} in row {row}); remove "
            "NaN/inf summaries."
        )
    return values


def _id_type(ids: pd.Series) -> str:
    if pd.api.types.is_integer_dtype(ids):
        return "long"
    if pd.api.types.is_string_dtype(ids) and all(isinstance(v, str) for v in ids):
        return "string"
    raise TypeError(
        f"ids must be integers or strings (got {ids.dtype}); convert the id column, e.g. "
        "with .astype(str)."
    )


def check_distance(distance: Any, table: Any) -> None:
    """Refuse a :class:`~abcspark.SemiAutomatic` unfitted or fitted on other statistics.

    A table fits only a distance that ``needs_pilot`` (``ScaledEuclidean()``); a
    SemiAutomatic needs the parameters too, so it comes fitted (``fit_table``), and is checked
    here, on the driver, rather than failing in every task of the search.
    """
    if not isinstance(distance, SemiAutomatic):
        return
    k = len(table.statistics)
    if distance.coefficients is None:
        raise ValueError(
            "distance must be a fitted SemiAutomatic on a reference table (got an unfitted "
            "one); fit it on the table's first rows with SemiAutomatic().fit_table(table, "
            "n=1000), no simulation needed, or by .fit(prior, simulate, n=..., seed=...)."
        )
    if len(distance.center) != k:
        raise ValueError(
            f"distance must be fitted on the table's k = {k} statistics (got a SemiAutomatic "
            f"fitted on k = {len(distance.center)}); fit it with SemiAutomatic().fit_table(table)."
        )
