"""Nested-parallel simulators: one model instance computed by several cooperating ranks.

A simulator declares how many processes one model instance needs with :func:`nested` and takes
a communicator, ``simulate(theta, rng, comm=comm)``. Every rank of an instance is called with
the same parameter rows and a generator in the same state; rank 0 returns the statistics (the
other ranks' return values are ignored, by convention None). The communicator offers mpi4py's
lower-case collectives: ``rank``, ``size``, ``gather``, ``bcast``, ``allgather``, ``barrier``.
Ranks draw their own share of random numbers with :func:`abcspark.rng.split_rng`, so that a
plain vectorized twin drawing every share in one process gets the same numbers::

    @nested(process_per_model=2)
    def simulate(theta, rng, comm):
        columns = np.array_split(np.arange(100), comm.size)[comm.rank]
        mine = split_rng(rng, comm.size)[comm.rank]
        part = mine.normal(theta[:, :1], theta[:, 1:], size=(len(theta), len(columns)))
        parts = comm.gather(part, root=0)
        return summaries(np.concatenate(parts, axis=1)) if comm.rank == 0 else None

:func:`as_ranks` wraps such a simulator as :class:`Ranks`, which every engine calls like a plain
one. Where the ranks run:

- ``engine='spark'``: :class:`abcspark.engines.BarrierEngine`, Spark's barrier execution mode,
  with one :class:`abcspark.engines.barrier.BarrierCommunicator` per task.
- ``engine='mpi'``: :class:`abcspark.engines.MPIEngine`, one split MPI communicator per instance.
- ``engine='numpy'``, or an engine that knows nothing of ranks: the ranks are threads of the
  process that runs the batch (:class:`ThreadCommunicator`); the driver's dry run does the same.
"""

from __future__ import annotations

import copy
import inspect
import threading
from functools import partial
from typing import Any, Callable

import numpy as np

from abcspark.batch import SimulationError
from abcspark.communicators import END, Board, Communicator, ThreadCommunicator
from abcspark.validation import positive_int


def nested(process_per_model: int) -> Callable:
    """Declare that one model instance of the decorated simulator runs as several ranks.

    Parameters
    ----------
    process_per_model : int
        Ranks (processes) per model instance; the simulator must take a ``comm`` argument.

    Returns
    -------
    callable
        A decorator that sets ``simulate.process_per_model`` and returns ``simulate``.

    Raises
    ------
    ValueError
        If ``process_per_model`` is not a positive int.

    Examples
    --------
    >>> @nested(process_per_model=2)
    ... def simulate(theta, rng, comm):
    ...     ...
    >>> simulate.process_per_model
    2
    """
    size = check_size(process_per_model)

    def declare(simulate: Callable) -> Callable:
        simulate.process_per_model = size
        return simulate

    return declare


def check_size(value: Any) -> int:
    """``value`` as ranks per model instance, if it is a positive int; else a ValueError."""
    return positive_int("process_per_model", value, "2")


def as_ranks(simulate: Callable) -> Callable:
    """Return ``simulate`` itself, or :class:`Ranks` if it declares ``process_per_model > 1``.

    Raises
    ------
    ValueError
        If the declared ``process_per_model`` is not a positive int.
    TypeError
        If ``process_per_model > 1`` and ``simulate`` takes no ``comm`` argument.
    """
    size = check_size(getattr(simulate, "process_per_model", 1))
    if size == 1:
        return simulate
    parameters = inspect.signature(simulate).parameters.values()
    if not any(p.name == "comm" or p.kind is p.VAR_KEYWORD for p in parameters):
        raise TypeError(
            f"simulate must take a comm argument when process_per_model={size} (got "
            f"{getattr(simulate, '__name__', type(simulate).__name__)}"
            f"{inspect.signature(simulate)}); define simulate(theta, rng, comm) and use "
            "comm.rank, comm.size and comm.gather, or drop process_per_model."
        )
    return Ranks(simulate, size)


class Ranks:
    """A nested simulator as the batches see it: ``(theta, rng) -> rank 0's statistics``.

    Called directly, it runs its ``size`` ranks as threads of this process. An engine with real
    processes per rank calls :meth:`on` with their communicator instead. After each call the
    ranks exchange rank 0's value and their errors, so all of them return the same value or all
    raise :class:`RankFailed` (which ``on_error='skip'`` counts as a failed simulation).

    Parameters
    ----------
    simulate : callable
        ``simulate(theta, rng, comm=comm)``; rank 0 returns the statistics.
    size : int
        Ranks per model instance.
    """

    def __init__(self, simulate: Callable, size: int):
        self.simulate, self.size = simulate, size
        # The user's names: the run's metadata records them, and Spark ships their module.
        named = simulate if hasattr(simulate, "__qualname__") else type(simulate)
        self.__module__, self.__qualname__ = named.__module__, named.__qualname__

    def on(self, comm: Any) -> Callable:
        """The ``(theta, rng)`` simulator of one rank that talks through ``comm``."""
        return partial(_call_rank, self.simulate, comm)

    def __call__(self, theta: np.ndarray, rng: np.random.Generator) -> Any:
        board = Board(self.size)
        threads = [
            threading.Thread(
                target=_thread_rank,
                args=(self, ThreadCommunicator(rank, board), theta, copy.deepcopy(rng)),
                name=f"abcspark-rank-{rank}",
                daemon=True,
            )
            for rank in range(1, self.size)
        ]
        for thread in threads:
            thread.start()
        comm = ThreadCommunicator(0, board)
        try:
            value = self.on(comm)(theta, rng)
            comm.finish()
        except BaseException:
            board.abort()  # frees the ranks that wait for rank 0
            raise
        finally:
            for thread in threads:
                thread.join()
        return value


class RankFailed(Exception):
    """A rank of a nested simulator raised; every rank of the model instance raises this."""


def _call_rank(simulate: Callable, comm: Any, theta: np.ndarray, rng: np.random.Generator) -> Any:
    """Run one rank; every rank returns rank 0's value, or raises if any rank raised."""
    try:
        value, error = simulate(theta, rng, comm=comm), None
    except SimulationError:
        raise  # a batch timeout, or collectives called out of order
    except Exception as exc:
        value, error = None, f"{type(exc).__name__}: {exc}"
    outcome = (value if comm.rank == 0 else None, error)
    if isinstance(comm, Communicator):
        outcomes = comm._exchange(END, outcome)
    else:
        outcomes = comm.allgather(outcome)  # an mpi4py communicator
    failed = [(rank, error) for rank, (_, error) in enumerate(outcomes) if error is not None]
    if failed:
        rank, error = failed[0]
        raise RankFailed(f"rank {rank} of {comm.size} raised {error}")
    return outcomes[0][0]


def _thread_rank(
    ranks: Ranks, comm: ThreadCommunicator, theta: np.ndarray, rng: np.random.Generator
) -> None:
    # Rank 0 reports every failure: a rank's error reaches it through the exchange after
    # simulate, a mismatch shows in its own exchange, and a rank that stops early answers
    # "done" below. Aborting the board here instead could break rank 0's last wait.
    try:
        ranks.on(comm)(theta, rng)
    except BaseException:
        pass
    try:
        comm.finish()
    except SimulationError:
        pass  # rank 0 failed and freed the other ranks
