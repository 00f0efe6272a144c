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

- ``engine='spark'``: :class:`abcspark.barrier.BarrierEngine`, Spark's barrier execution mode,
  with one :class:`abcspark.barrier.BarrierCommunicator` per task.
- ``engine='mpi'``: :class:`abcspark.mpi.MPIEngine`, with one split MPI communicator per instance.
- ``engine='numpy'``, or an engine that knows nothing of ranks: the ranks are threads of the
  process that runs the batch (:class:`ThreadCommunicator`); the driver's dry run does the same.
"""

from __future__ import annotations

import copy
import inspect
import numbers
import threading
from abc import ABC, abstractmethod
from functools import partial
from typing import Any, Callable, Optional

import numpy as np

from abcspark.simulation import SimulationError

DONE = "done"
"""What a rank posts once its batches are over; ``_post`` returns it as it is, never pickled."""
_END = "the end of simulate"
"""The exchange after each call of a rank's simulator: rank 0's value and every rank's error."""


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
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"process_per_model must be a positive int (got {value!r}); e.g. "
            "process_per_model=2 for two ranks per model instance."
        )
    return int(value)


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
        board = _Board(self.size)
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
        outcomes = comm._exchange(_END, outcome)
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


class Communicator(ABC):
    """The collectives of one model instance, with mpi4py's names and semantics.

    Every collective is one exchange in which each rank posts a message and receives those of
    all ranks of its instance, so ranks must call the same collectives in the same order; a
    mismatch raises :class:`~abcspark.SimulationError` naming both calls.

    Attributes
    ----------
    rank : int
        This rank, ``0 <= rank < size``.
    size : int
        Ranks in the model instance.
    """

    rank: int
    size: int

    def allgather(self, value: Any) -> list:
        """Every rank's ``value``, in rank order, on every rank."""
        return self._exchange("allgather", value)

    def gather(self, value: Any, root: int = 0) -> Optional[list]:
        """Every rank's ``value`` in rank order on ``root``; None on the other ranks."""
        values = self._exchange(f"gather(root={self._root(root)})", value)
        return values if self.rank == root else None

    def bcast(self, value: Any, root: int = 0) -> Any:
        """``root``'s ``value`` on every rank."""
        sent = value if self.rank == root else None
        return self._exchange(f"bcast(root={self._root(root)})", sent)[root]

    def barrier(self) -> None:
        """Wait until every rank of the instance gets here."""
        self._exchange("barrier", None)

    def finish(self) -> None:
        """Take part in exchanges until every rank that shares them has finished too."""
        while any(message != DONE for message in self._post(DONE)):
            pass

    @abstractmethod
    def _post(self, message: Any) -> list:
        """Post ``message``; return the messages of every rank that shares exchanges."""

    def _members(self, messages: list) -> list:
        """The messages of this rank's model instance among those returned by ``_post``."""
        return messages

    def _exchange(self, call: str, value: Any) -> list:
        values = []
        for rank, message in enumerate(self._members(self._post((call, value)))):
            if message == DONE or message[0] != call:
                if message == DONE:
                    other = "finished its batches"
                elif message[0] == _END and message[1][1] is not None:
                    other = f"raised {message[1][1]}"
                else:
                    other = f"reached {message[0]}"
                raise SimulationError(
                    f"rank {rank} of a model instance {other} while rank {self.rank} reached "
                    f"{call}; every rank must call the same collectives in the same order."
                )
            values.append(message[1])
        return values

    def _root(self, root: int) -> int:
        if isinstance(root, bool) or not isinstance(root, numbers.Integral):
            root = -1
        if not 0 <= root < self.size:
            raise ValueError(
                f"root must be a rank of this model instance, 0 to {self.size - 1} (got {root!r})."
            )
        return int(root)


class _Board:
    """Where the thread ranks of one model instance post their messages."""

    def __init__(self, size: int):
        self.messages: list = [None] * size
        self.turn = threading.Barrier(size)

    def abort(self) -> None:
        self.turn.abort()


class ThreadCommunicator(Communicator):
    """The communicator of ranks that are threads of one process.

    Parameters
    ----------
    rank : int
        This thread's rank.
    board : _Board
        Shared by the threads of one model instance.
    """

    def __init__(self, rank: int, board: _Board):
        self.rank, self.size, self.board = rank, len(board.messages), board

    def _post(self, message: Any) -> list:
        self.board.messages[self.rank] = message
        self._wait()
        messages = list(self.board.messages)
        self._wait()  # nobody posts the next message before everyone has read this one
        return messages

    def _wait(self) -> None:
        try:
            self.board.turn.wait()
        except threading.BrokenBarrierError:
            raise SimulationError(
                f"rank 0 of this model instance failed while rank {self.rank} waited for it; "
                "see rank 0's error."
            ) from None
