"""PMC-ABC and rejection ABC on the height problem, as the MPI, Spark and NumPy tests run them.

Usage: mpirun -np N python mpi_run.py OUTPUT MODEL
MODEL: "plain" (the vectorized height model, one rank per model instance) or "ranked"
(``mpi_models.ranked_heights``, two ranks per model instance). Rank 0 saves the posteriors
under OUTPUT/pmc and OUTPUT/rejection; the other ranks serve batches and exit.
"""

import sys
from pathlib import Path

from mpi_models import ranked_heights

from abcspark import PMCABC, RejectionABC
from abcspark.examples import height_problem

PRIOR, HEIGHTS, OBSERVED = height_problem()
MODELS = {"plain": HEIGHTS, "ranked": ranked_heights}


def run_pmc(simulate, **engine):
    pmc = PMCABC(
        PRIOR, simulate, n_particles=200, generations=3, batch_size=100, progress=False, **engine
    )
    return pmc.run(OBSERVED, seed=5)


def run_rejection(simulate, **engine):
    abc = RejectionABC(PRIOR, simulate, batch_size=200, **engine)
    return abc.run(OBSERVED, quantile=0.05, n_simulations=2000, seed=6)


def main():
    output, model = Path(sys.argv[1]), MODELS[sys.argv[2]]
    run_pmc(model, engine="mpi").save(str(output / "pmc"))
    run_rejection(model, engine="mpi").save(str(output / "rejection"))


if __name__ == "__main__":
    main()
