"""A PMC-ABC run with a checkpoint that the resume tests interrupt.

Usage: python resume_job.py CHECKPOINT OUTPUT ENGINE INTERRUPT
INTERRUPT: "none"; "between" (the process kills itself as generation 2's first batch starts,
right after generation 1 was saved); "during" (generation 2's first simulation leaves a marker
file and then holds its batch until the test kills the driver, so that generation can never
finish, and be checkpointed, before the kill: no race to win).
"""

import os
import signal
import sys
import time
from pathlib import Path

from abcspark import PMCABC
from abcspark.examples import HeightModel, height_problem

CHECKPOINT, OUTPUT, ENGINE, INTERRUPT = sys.argv[1:5]


class InterruptedHeights(HeightModel):
    def __call__(self, theta, rng):
        if Path(CHECKPOINT, "generation-0001.json").exists():
            if INTERRUPT == "between":
                os.kill(os.getpid(), signal.SIGKILL)
            if INTERRUPT == "during":
                Path(OUTPUT).mkdir(parents=True, exist_ok=True)
                Path(OUTPUT, "generation-2-started").touch()
                hold_until_killed()
        return super().__call__(theta, rng)


def hold_until_killed(seconds=300.0):
    """Block this batch until the test kills the run; fail loudly if it never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
    raise RuntimeError(f"resume_job: not killed within {seconds} s of generation 2 starting")


def main():
    prior, _, observed = height_problem()
    pmc = PMCABC(
        prior,
        InterruptedHeights(),
        n_particles=200,
        generations=4,
        batch_size=100,
        engine=ENGINE,
        parallelism=2,
        progress=False,
    )
    posterior = pmc.run(observed, seed=17, checkpoint=CHECKPOINT)
    posterior.save(str(Path(OUTPUT, "posterior")))


if __name__ == "__main__":
    main()
