"""A posterior on disk: Parquet particles and JSON metadata under one folder, written whole.

The particles file holds the posterior's particles (:meth:`~abcspark.Posterior.to_frame`) and,
when the run kept them, its earlier generations' (:mod:`abcspark.pooling`), told apart by
their :data:`~abcspark.pooling.GENERATION` column.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from abcspark import storage
from abcspark.pooling import GENERATION
from abcspark.rows import statistics_in

PARTICLES_FILE = "particles.parquet"
METADATA_FILE = "metadata.json"


def save(posterior: Any, path: str, spark: Any, overwrite: bool) -> None:
    """Write ``posterior`` under ``path``; see :meth:`abcspark.Posterior.save`."""
    store = storage.for_path(path, spark)
    if overwrite is not True and store.exists(METADATA_FILE):
        raise ValueError(
            f"path must not hold a saved posterior already (got {METADATA_FILE} under "
            f"{path}); pass overwrite=True to replace it, or save to another path."
        )
    frame = posterior.to_frame()
    if posterior.earlier is not None:
        last = int(posterior.earlier[GENERATION].max()) + 1
        frame = pd.concat([posterior.earlier, frame.assign(**{GENERATION: last})])
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    document = {"metadata": posterior.metadata, "history": posterior.history.to_dict(orient="list")}
    storage.write_pair(store, METADATA_FILE, document, PARTICLES_FILE, buffer.getvalue())


def load(path: str, spark: Any) -> dict:
    """The arguments of :class:`abcspark.Posterior` saved under ``path`` by :func:`save`."""
    store = storage.for_path(path, spark)
    if not store.exists(METADATA_FILE):
        raise ValueError(
            f"path must hold a saved posterior (no {METADATA_FILE} under {path}); "
            "pass the folder given to Posterior.save."
        )
    document = storage.read_json(store, METADATA_FILE, path)
    storage.check_format(document, path)
    particles = storage.pair_data(document, PARTICLES_FILE, f"{path}/{METADATA_FILE}")
    try:
        frame = pd.read_parquet(io.BytesIO(store.read(particles)))
        earlier = None
        if GENERATION in frame.columns:
            last = frame[GENERATION] == frame[GENERATION].max()
            earlier = frame[~last].reset_index(drop=True)
            frame = frame[last].drop(columns=GENERATION).reset_index(drop=True)
        stats = statistics_in(frame)
        return dict(
            samples=frame.drop(columns=["weight", "distance", *stats]),
            weights=frame["weight"].to_numpy(),
            distances=frame["distance"].to_numpy(),
            history=pd.DataFrame(document["history"]),
            metadata=document["metadata"],
            statistics=frame[stats].to_numpy() if stats else None,
            earlier=earlier,
        )
    except (KeyError, OSError, ValueError) as exc:
        raise ValueError(
            f"path must hold a whole saved posterior (got {type(exc).__name__}: {exc} under "
            f"{path}); save it again with Posterior.save."
        ) from exc
