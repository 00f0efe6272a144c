"""The MPI engine: rank 0 drives the run, the other ranks simulate.

Start the same script on every rank, ``mpirun -np 3 python script.py``, and pass
``engine="mpi"`` (or an :class:`MPIEngine`) to :class:`~abcspark.RejectionABC` or
:class:`~abcspark.PMCABC`. On rank 0 the engine is an object like any other; on the other
ranks building it never returns: they serve batches until rank 0's script ends, then exit. The
same seed gives the same posterior as the NumPy and Spark engines.

With ``process_per_model=m`` (see :func:`abcspark.nested`) the ``N - 1`` simulating ranks are
split into groups of ``m``, one ``mpi4py`` communicator per model instance, so ``N - 1`` must
be a multiple of ``m``. The simulator's ranks must make the same collective calls: unlike the
Spark and thread communicators, MPI cannot tell a mismatch from a slow rank and waits forever.
The driver's dry run runs the ranks as threads first, which catches most such mistakes early.
For the same reason ``batch_timeout`` does not suit ``m > 1`` here: a rank that times out
leaves its partners waiting.
Tasks reach the ranks with ``pickle``: simulators and distances must be importable (functions
and classes of the script itself are, since every rank runs it).
"""

from __future__ import annotations

import atexit
import itertools
import pickle
import sys
from dataclasses import replace
from typing import Any, Optional

import pandas as pd

from abcspark.batch import BatchTask
from abcspark.nested import Ranks, check_size
from abcspark.rows import keep_best

_COMMAND, _RESULT = 1, 2
"""Message tags: rank 0 to a model instance's first rank, and back."""
_POOL: Optional[_Pool] = None
"""Rank 0's view of the simulating ranks, split once per process."""


def _mpi() -> Any:
    try:
        from mpi4py import MPI
    except (ImportError, RuntimeError) as exc:  # no mpi4py, or no MPI library under it
        raise ImportError(
            f"engine='mpi' needs mpi4py and an MPI library (got {type(exc).__name__}: {exc}); "
            "pip install 'abcspark[mpi]', install MPI (e.g. apt-get install openmpi-bin "
            "libopenmpi-dev) and start the script with mpirun -np 3 python script.py."
        ) from None
    return MPI


class MPIEngine:
    """Run batches on MPI ranks: rank 0 is the driver, each other group of ranks a simulator.

    Parameters
    ----------
    process_per_model : int, default 1
        Ranks per model instance; ``mpirun -np`` must be 1 plus a multiple of it.

    Raises
    ------
    ImportError
        If mpi4py or the MPI library cannot be loaded.
    ValueError
        If fewer than 2 ranks run, the simulating ranks are not a multiple of
        ``process_per_model``, or this process already split its ranks differently.

    Examples
    --------
    A script run as ``mpirun -np 3 python script.py``::

        from abcspark import PMCABC
        from abcspark.examples import height_problem

        prior, model, observed = height_problem()
        posterior = PMCABC(prior, model, engine="mpi").run(observed, seed=1)
        print(posterior)  # rank 0 only: the other ranks exit when rank 0 is done
    """

    name = "mpi"

    def __init__(self, process_per_model: int = 1):
        global _POOL
        size = check_size(process_per_model)
        if _POOL is None:
            _POOL = _start(_mpi(), size)
        elif _POOL.process_per_model != size:
            raise ValueError(
                f"process_per_model must stay {_POOL.process_per_model} in one MPI job (got "
                f"{size}); the ranks were split once, so start another mpirun for the other."
            )
        self.pool = _POOL
        self.process_per_model = size
        self.parallelism = len(_POOL.leaders)

    def share(self, task: BatchTask) -> int:
        """Send the task to every model instance; return its key."""
        return self.pool.share(task)

    def run(
        self, shared: int, batches: range, best: Optional[int] = None, description: str = ""
    ) -> pd.DataFrame:
        """Hand out ``batches`` one at a time to free model instances; gather their rows."""
        return self.pool.run(shared, batches, best)

    def release(self, shared: int) -> None:
        """Let the model instances forget the task."""
        self.pool.release(shared)


def _start(MPI: Any, process_per_model: int) -> _Pool:
    """Split the ranks; serve on ranks other than 0 (then exit), return the pool on rank 0."""
    world = MPI.COMM_WORLD
    size, rank = world.Get_size(), world.Get_rank()
    if size < 2:
        raise ValueError(
            f"the MPI engine needs at least 2 ranks (got {size}): rank 0 drives the run and the "
            "others simulate; start the script with mpirun -np 3 python script.py."
        )
    if (size - 1) % process_per_model:
        raise ValueError(
            f"the ranks other than rank 0 must be a multiple of process_per_model="
            f"{process_per_model} (got {size - 1}); start mpirun -np "
            f"{1 + process_per_model * max(1, (size - 1) // process_per_model)}."
        )
    instance = MPI.UNDEFINED if rank == 0 else (rank - 1) // process_per_model
    model_comm = world.Split(instance, rank)
    if rank != 0:
        _serve(world, model_comm)
        sys.exit(0)
    leaders = list(range(1, size, process_per_model))
    pool = _Pool(MPI, world, leaders, process_per_model)
    atexit.register(pool.stop)
    return pool


def _serve(world: Any, model_comm: Any) -> None:
    """Run the commands of rank 0 until it says stop; the first rank of an instance reports."""
    tasks: dict = {}
    leader = model_comm.Get_rank() == 0
    while True:
        command = world.recv(source=0, tag=_COMMAND) if leader else None
        if model_comm.Get_size() > 1:
            command = model_comm.bcast(command, root=0)
        kind, key, payload = command
        if kind == "stop":
            return
        if kind == "task":
            task = pickle.loads(payload)
            if isinstance(task.simulate, Ranks):
                task = replace(task, simulate=task.simulate.on(model_comm))
            tasks[key] = task
        elif kind == "release":
            del tasks[key]
        else:
            try:
                outcome = tasks[key].run(payload)
            except Exception as exc:
                outcome = exc
            if leader:
                world.send(outcome, dest=0, tag=_RESULT)


class _Pool:
    """Rank 0's side: the first rank of each model instance, and the batches in flight."""

    def __init__(self, MPI: Any, world: Any, leaders: list, process_per_model: int):
        self.MPI, self.world, self.leaders = MPI, world, leaders
        self.process_per_model = process_per_model
        self.keys = itertools.count()
        self.in_flight = 0

    def share(self, task: BatchTask) -> int:
        key, payload = next(self.keys), pickle.dumps(task)
        for leader in self.leaders:
            self.world.send(("task", key, payload), dest=leader, tag=_COMMAND)
        return key

    def run(self, key: int, batches: range, best: Optional[int]) -> pd.DataFrame:
        pending = iter(batches)
        frames, failure = [], None
        for leader, batch in zip(self.leaders, pending):
            self._send(leader, key, batch)
        while self.in_flight:
            status = self.MPI.Status()
            outcome = self.world.recv(source=self.MPI.ANY_SOURCE, tag=_RESULT, status=status)
            self.in_flight -= 1
            if isinstance(outcome, Exception):
                failure = failure or outcome  # collect what is in flight, then raise
            else:
                frames.append(outcome)
                if best is not None and sum(map(len, frames)) > 2 * best + 1000:
                    frames = [keep_best(pd.concat(frames, ignore_index=True), best)]
            batch = None if failure else next(pending, None)
            if batch is not None:
                self._send(status.Get_source(), key, batch)
        if failure is not None:
            raise failure
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        return frame if best is None or frame.empty else keep_best(frame, best)

    def _send(self, leader: int, key: int, batch: int) -> None:
        self.world.send(("batch", key, int(batch)), dest=leader, tag=_COMMAND)
        self.in_flight += 1

    def release(self, key: int) -> None:
        for leader in self.leaders:
            self.world.send(("release", key, None), dest=leader, tag=_COMMAND)

    def stop(self) -> None:
        """At exit: let the ranks go, or abort the job if batches are still in flight."""
        if self.in_flight:
            self.world.Abort(1)
        for leader in self.leaders:
            self.world.send(("stop", None, None), dest=leader, tag=_COMMAND)
