"""Victims of the crash tests, forked by this server so that each starts in a millisecond.

Usage: python crash_job.py, then one JSON command a line on standard input::

    {"call": "save" | "run", "folder": ..., "overwrite": bool,
     "kill_before": k (optional), "kill_after": seconds (optional), "count": file (optional)}

For each command the server forks a child that makes one call: ``Posterior.save`` of the "new"
posterior below, or a checkpointed PMC-ABC run on the NumPy engine. With ``kill_before`` the
child SIGKILLs itself just before its k-th file-system call (counting from 0: ``os.fsync``,
``replace``, ``link``, ``rename``, ``unlink``); with ``kill_after`` the server SIGKILLs it that
many seconds after the fork (its own child, not yet reaped: the pid cannot belong to another
process). ``count`` receives the number of such calls of a child that ran to the end. The server
answers each command with one JSON line: ``{"exit": code, "seconds": ...}``, a negative code
being the signal.
"""

import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd

from abcspark import PMCABC, Posterior
from abcspark.examples import height_problem

FS_CALLS = ("fsync", "replace", "link", "rename", "unlink")
PRIOR, MODEL, OBSERVED = height_problem()
SEED = 23


def make_posterior(kind):
    """The "old" posterior saved first and the "new" one saved over it: they differ in every
    part, so that one made of the two is seen."""
    seed, n, names = {"old": (1, 5_000, ["a", "b"]), "new": (2, 20_000, ["mu", "sigma", "rho"])}[
        kind
    ]
    rng = np.random.default_rng(seed)
    samples = pd.DataFrame(rng.normal(size=(n, len(names))), columns=names)
    history = pd.DataFrame({"generation": [0, seed], "epsilon": [np.inf, 1.0 / seed]})
    metadata = {"seed": seed, "kind": kind}
    statistics = rng.normal(size=(n, 2)) if kind == "new" else None
    return Posterior(
        samples, rng.uniform(size=n), rng.uniform(size=n), history, metadata, statistics
    )


def pmc():
    """The checkpointed run: small, so that a kill lands anywhere in it."""
    return PMCABC(
        PRIOR, MODEL, n_particles=100, generations=4, batch_size=50, engine="numpy", progress=False
    )


def kill_before(call):
    """SIGKILL this process just before its ``call``-th file-system call; count the calls."""
    count = [0]

    def counted(original):
        def wrapped(*args, **kwargs):
            if count[0] == call:
                os.kill(os.getpid(), signal.SIGKILL)
            count[0] += 1
            return original(*args, **kwargs)

        return wrapped

    for name in FS_CALLS:
        setattr(os, name, counted(getattr(os, name)))
    return count


def victim(command):
    count = kill_before(command.get("kill_before", -1))
    if command["call"] == "save":
        make_posterior("new").save(command["folder"], overwrite=command["overwrite"])
    else:
        pmc().run(OBSERVED, seed=SEED, checkpoint=command["folder"])
    if command.get("count"):
        Path(command["count"]).write_text(str(count[0]))


def fork(command):
    """Run ``command`` in a child and return its exit code, killing it when asked to."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            victim(command)
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    kill_at = command.get("kill_after")
    deadline = None if kill_at is None else time.monotonic() + kill_at
    while deadline is not None:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.0005)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def main():
    for line in sys.stdin:
        started = time.perf_counter()
        code = fork(json.loads(line))
        print(json.dumps({"exit": code, "seconds": time.perf_counter() - started}), flush=True)


if __name__ == "__main__":
    main()
