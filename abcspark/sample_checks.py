"""Checks on a generation while it samples: proposals inside the prior's support, and the
share of simulations that failed (``on_error='skip'``)."""

from __future__ import annotations

import logging

from abcspark.batch import SimulationError

log = logging.getLogger("abcspark")

MIN_IN_SUPPORT = 1e-4
"""Below this share of proposals inside the prior's support (after 100 batches) a run stops."""


def check_support(simulated: int, proposed: int) -> None:
    """Stop a proposal that (almost) never lands inside the prior's support."""
    if proposed >= 100_000 and simulated < MIN_IN_SUPPORT * proposed:
        raise ValueError(
            f"the proposals must fall inside the prior's support (got {simulated:,} of "
            f"{proposed:,}); the kernel is too wide for a prior with many bounded parameters: "
            "use kernel='olcm' or a GaussianKernel with a smaller scale, or reparameterise "
            "bounded parameters to unbounded ones."
        )


def check_failures(failed: int, simulated: int, limit: float, what: str) -> None:
    """Warn when half of ``limit`` of the simulations failed, stop when ``limit`` did."""
    if simulated < 1000 or failed <= 0.5 * limit * simulated:
        return
    share = f"{failed / simulated:.1%} of {simulated:,} simulations failed and were skipped"
    advice = (
        "a vectorized simulator that raises fails its whole batch: return NaN rows for the "
        "parameters that fail instead, or fix the simulator"
    )
    if failed <= limit * simulated:
        log.warning("%s: %s; %s.", what, share, advice)
        return
    raise SimulationError(
        f"the share of failed simulations must stay within max_failed_share={limit} (got "
        f"{share} in {what}); {advice}, or raise max_failed_share."
    )
