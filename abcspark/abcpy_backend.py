"""ABCpy's parallelization Backend interface on Spark, for ABCpy users who move to abcspark.

ABCpy's inference schemes (``RejectionABC``, ``PMCABC``, ``SMCABC``, ...) run unchanged on it;
the one line an ABCpy script changes is the backend::

    from abcspark.abcpy_backend import BackendSpark as Backend
    backend = Backend(sc, parallelism=4)

The schemes call four methods: ``parallelize`` a list, ``map`` a function over it, ``collect``
the results, and ``broadcast`` values the function reads through ``bds.value()``. Unlike
ABCpy's own Spark backend:

- ``map`` only records the function; ``collect`` runs one job whose partitions each receive
  one contiguous slice of the list as a single pickle and apply every recorded function to it.
- ``broadcast`` ships a small value (pickled size up to :data:`EMBED_LIMIT`) inside the job's
  closure, which costs less than a Spark broadcast; a larger one becomes one Spark broadcast,
  shared when the scheme broadcasts the same content again, and destroyed when the scheme drops
  it (ABCpy replaces its broadcasts every generation and never releases the old ones; Spark
  frees them only after a garbage collection of its JVM).
- A partition's result depends only on its slice, which Spark keeps on the driver: a retried
  or speculative task starts again from the original elements and returns the same values.
"""

from __future__ import annotations

import hashlib
import weakref
from functools import partial
from typing import Any, Callable, Iterator, List, Sequence

from abcspark.connect import ABCPY_INSTEAD, require_classic
from abcspark.validation import positive_int

EMBED_LIMIT = 256 * 1024
"""Largest pickled value (bytes) that travels in the job's closure instead of a Spark broadcast."""


class PDSSpark:
    """A parallel data set: the driver's elements and the functions still to map over them."""

    def __init__(self, elements: Sequence, functions: tuple = ()):
        self.elements, self.functions = elements, functions


class BDSSpark:
    """A broadcast value; ``value()`` returns it on the driver and on the executors."""

    def __init__(self, value: Any, broadcast: Any = None):
        self._value, self._broadcast = value, broadcast

    def value(self) -> Any:
        """The broadcast object (read-only by convention, as in ABCpy)."""
        if self._value is None and self._broadcast is not None:
            self._value = self._broadcast.value  # first use on an executor
        return self._value

    def __getstate__(self) -> dict:
        # A large value travels as the Spark broadcast alone; a small one in the closure.
        if self._broadcast is None:
            return {"_value": self._value, "_broadcast": None}
        return {"_value": None, "_broadcast": self._broadcast}


class BackendSpark:
    """ABCpy's ``Backend`` on a SparkContext.

    Parameters
    ----------
    sc : pyspark.SparkContext
        The context to run on (``spark.sparkContext`` of a session).
    parallelism : int, default 4
        Partitions per job: the list is cut into this many contiguous slices (ABCpy's word and
        default; a small multiple of the cluster's cores is a good value).

    Raises
    ------
    TypeError
        If ``sc`` is not a SparkContext, e.g. a Spark Connect session (which has none: ABCpy's
        schemes need RDDs; the message names what to do instead).
    ValueError
        If ``parallelism`` is not a positive int.
    """

    def __init__(self, sc: Any, parallelism: int = 4):
        require_classic(sc, "ABCpy's backend (BackendSpark)", ABCPY_INSTEAD, TypeError)
        if not all(
            hasattr(sc, name) for name in ("parallelize", "broadcast", "defaultParallelism")
        ):
            raise TypeError(
                f"sc must be a pyspark.SparkContext (got {type(sc)}); pass spark.sparkContext "
                "of a SparkSession, or pyspark.SparkContext()."
            )
        self.sc, self.parallelism = sc, positive_int("parallelism", parallelism, "4")
        self._shared: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

    def parallelize(self, python_list: Sequence) -> PDSSpark:
        """Wrap ``python_list`` (any sequence, e.g. a list or an ndarray) as a parallel data set."""
        return PDSSpark(list(python_list))

    def map(self, func: Callable, pds: PDSSpark) -> PDSSpark:
        """A data set whose elements are ``func`` of ``pds``'s, computed at :meth:`collect`."""
        return PDSSpark(pds.elements, pds.functions + (func,))

    def collect(self, pds: PDSSpark) -> list:
        """Run the mapped functions on the cluster; return the elements in their order."""
        elements = pds.elements
        if not pds.functions or not elements:
            return list(elements)
        parts = min(self.parallelism, len(elements))
        size, extra = divmod(len(elements), parts)
        bounds = [i * size + min(i, extra) for i in range(parts + 1)]
        slices = [elements[bounds[i] : bounds[i + 1]] for i in range(parts)]
        rdd = self.sc.parallelize(slices, parts)
        results = rdd.mapPartitions(partial(_apply, pds.functions)).collect()
        return [value for part in results for value in part]

    def broadcast(self, value: Any) -> BDSSpark:
        """Make ``value`` available to mapped functions as ``bds.value()``.

        A large value whose pickle equals that of a broadcast still in use shares it (ABCpy's
        PMCABC broadcasts the same population up to three times per generation).
        """
        from pyspark import cloudpickle

        data = cloudpickle.dumps(value)
        if len(data) <= EMBED_LIMIT:
            return BDSSpark(value)
        key = hashlib.sha256(data).hexdigest()
        shared = self._shared.get(key)
        if shared is None:
            shared = BDSSpark(value, self.sc.broadcast(value))
            finalizer = weakref.finalize(shared, _destroy, self.sc, shared._broadcast)
            finalizer.atexit = False  # Spark cleans up after itself when it stops
            self._shared[key] = shared
        return shared


def _apply(functions: tuple, slices: Iterator[List]) -> Iterator[List]:
    for elements in slices:
        values: List[Any] = list(elements)
        for function in functions:
            values = [function(value) for value in values]
        yield values


def _destroy(sc: Any, broadcast: Any) -> None:
    """Free a broadcast the scheme no longer refers to (unless its SparkContext has stopped)."""
    if sc._jsc is not None:
        broadcast.destroy(blocking=False)
