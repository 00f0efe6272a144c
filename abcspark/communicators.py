"""Communicators: the collectives of one model instance of a nested simulator.

:class:`Communicator` offers mpi4py's lower-case collectives over one primitive, ``_post``
(every rank posts a message and receives all of them). :class:`ThreadCommunicator` posts on a
board shared by threads; the Spark barrier engine's communicator posts through
``BarrierTaskContext.allGather`` (:mod:`abcspark.engines.barrier`).
"""

from __future__ import annotations

import numbers
import threading
from abc import ABC, abstractmethod
from typing import Any, Optional

from abcspark.batch import SimulationError

DONE = "done"
"""What a rank posts once its batches are over; ``_post`` returns it as it is, never pickled."""
END = "the end of simulate"
"""The exchange after each call of a rank's simulator: rank 0's value and every rank's error."""


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
                elif message[0] == END and message[1][1] is not None:
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


class Board:
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
    board : Board
        Shared by the threads of one model instance.
    """

    def __init__(self, rank: int, board: Board):
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
