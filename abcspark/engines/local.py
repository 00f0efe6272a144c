"""The NumPy engine: batches run in this Python process, the reference every engine matches."""

from __future__ import annotations

from typing import Optional

import pandas as pd

from abcspark.batch import BatchTask
from abcspark.batch_loop import run_batches


class LocalEngine:
    """Run batches in this Python process (no Spark): tiny runs and the reference."""

    name = "numpy"
    parallelism = 1

    def share(self, task: BatchTask) -> BatchTask:
        """Make ``task`` available to the batches; in-process there is nothing to ship."""
        return task

    def run(
        self, shared: BatchTask, batches: range, best: Optional[int] = None, description: str = ""
    ) -> pd.DataFrame:
        """Run ``batches`` of the shared task; see :func:`abcspark.rows.keep_best` for ``best``."""
        frames = list(run_batches(shared, iter(batches), best))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def release(self, shared: BatchTask) -> None:
        """Nothing to release in-process."""
