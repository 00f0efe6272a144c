"""`Callback`: what a run tells the code that watches it (the progress display, MLflow, yours)."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

from abcspark.history import GenerationRecord


class Callback:
    """Hooks a run calls: once at its start, after every generation, once at its end.

    Subclass it, override the hooks you need, and pass instances to ``run(...,
    callbacks=[...])`` of `~abcspark.PMCABC` or `~abcspark.RejectionABC` (one generation). The
    progress display and `~abcspark.MLflowLogger` are callbacks too. A run resumed from a
    checkpoint first calls :meth:`on_generation` for each generation it read back. An exception
    raised in a hook ends the run; the generations already checkpointed stay saved.

    Examples
    --------
    >>> from abcspark import Callback
    >>> class Epsilons(Callback):
    ...     def __init__(self):
    ...         self.epsilons = []
    ...
    ...     def on_generation(self, record):
    ...         self.epsilons.append(record.epsilon)

    ``PMCABC(prior, simulate).run(observed, seed=1, callbacks=[watch := Epsilons()])`` leaves
    each generation's epsilon in ``watch.epsilons``.
    """

    def on_run_start(self, algorithm: Any, seed: int) -> None:
        """Called before the first simulation, with the algorithm and the run's seed.

        ``algorithm.settings()`` is everything that decides the result.
        """

    def on_generation(self, record: GenerationRecord) -> None:
        """Called after each generation is kept (and checkpointed), with its history row."""

    def on_run_end(self, posterior: Optional[Any]) -> None:
        """Called once at the end with the `~abcspark.Posterior`, or None if the run raised."""


class Callbacks:
    """The callbacks of one run, each hook called on each callback in order.

    Parameters
    ----------
    callbacks : sequence of Callback, optional

    Raises
    ------
    TypeError
        If ``callbacks`` is not a list or tuple of `Callback` instances.
    """

    def __init__(self, callbacks: Optional[Sequence[Callback]] = ()) -> None:
        callbacks = () if callbacks is None else callbacks
        if not isinstance(callbacks, (list, tuple)) or not all(
            isinstance(c, Callback) for c in callbacks
        ):
            raise TypeError(
                f"callbacks must be a list of abcspark.Callback instances (got {callbacks!r}); "
                "subclass abcspark.Callback and pass e.g. callbacks=[MyCallback()]."
            )
        self.callbacks: List[Callback] = list(callbacks)

    def on_run_start(self, algorithm: Any, seed: int) -> None:
        """Call every callback's :meth:`Callback.on_run_start`."""
        for callback in self.callbacks:
            callback.on_run_start(algorithm, seed)

    def on_generation(self, record: GenerationRecord) -> None:
        """Call every callback's :meth:`Callback.on_generation`."""
        for callback in self.callbacks:
            callback.on_generation(record)

    def on_run_end(self, posterior: Optional[Any]) -> None:
        """Call every callback's :meth:`Callback.on_run_end`."""
        for callback in self.callbacks:
            callback.on_run_end(posterior)
