"""Checks of the arguments users type: one grammar for every message.

Each check returns the value in its plain Python type, or raises ``ValueError`` / ``TypeError``
saying "<name> must be <expected> (got <actual>); <fix>." NumPy scalars (``np.int64``,
``np.float32``) are accepted wherever the Python number is; ``bool`` never counts as a number.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Optional, Sequence, Tuple

import numpy as np

MAX_COUNT = 10**15
"""Largest count (particles, samples, simulations) an argument may ask for: counts stay exact
in float64 and far from int64's limit in every sum."""


def positive_int(name: str, value: Any, example: str = "1000", high: int = MAX_COUNT) -> int:
    """``value`` as an int in ``[1, high]``.

    Examples
    --------
    >>> positive_int("n_particles", np.int64(5))
    5
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int (got {value!r}); e.g. {name}={example}.")
    if value > high:
        raise ValueError(
            f"{name} must be a positive int <= {high:.0e} (got {shown(value)}); e.g. "
            f"{name}={example}."
        )
    return int(value)


def boolean(name: str, value: Any) -> bool:
    """``value`` as a bool: True or False (NumPy's too), nothing else.

    Examples
    --------
    >>> boolean("recycle", np.True_)
    True
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False (got {value!r}); e.g. {name}=True.")
    return bool(value)


def population_size(value: Any) -> int:
    """``n_particles`` of a population algorithm: an int of at least 2."""
    n = positive_int("n_particles", value)
    if n < 2:
        raise ValueError(
            f"n_particles must be at least 2 (got {n}); a population of one particle has no "
            "spread to propose from: use e.g. n_particles=1000."
        )
    return n


def real(
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    open_low: bool = False,
    open_high: bool = False,
    example: str = "",
) -> float:
    """``value`` as a float within ``[low, high]`` (open at either end if asked); NaN refused.

    Examples
    --------
    >>> real("epsilon_quantile", np.float32(0.5), 0, 1, open_low=True, open_high=True)
    0.5
    """
    value_f = as_float(value) if is_real(value) else math.nan
    inside = (
        not math.isnan(value_f)
        and (low < value_f if open_low else low <= value_f)
        and (value_f < high if open_high else value_f <= high)
    )
    if not inside:
        expected = _interval(low, high, open_low, open_high)
        hint = f"; e.g. {name}={example}" if example else ""
        raise ValueError(f"{name} must be {expected} (got {shown(value)}){hint}.")
    return value_f


def shown(value: Any) -> str:
    """``repr(value)``, shortened for an int of more than 30 digits."""
    text = repr(value)
    return (
        f"an int of {len(str(abs(value)))} digits"
        if isinstance(value, int) and len(text) > 30
        else text
    )


def is_real(value: Any) -> bool:
    """A real number, NumPy scalars included; never a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def as_float(value: Any) -> float:
    """``float(value)``, with a signed ``inf`` for an int too large for a float."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _interval(low: float, high: float, open_low: bool, open_high: bool) -> str:
    """``a number >= 0``, ``a number in (0, 1]`` and the like."""
    if math.isinf(low) and math.isinf(high):
        return "a number"
    if math.isinf(high):
        number = "a finite number" if open_high else "a number"
        return f"{number} {'>' if open_low else '>='} {low:g}"
    if math.isinf(low):
        return f"a number {'<' if open_high else '<='} {high:g}"
    left, right = "(" if open_low else "[", ")" if open_high else "]"
    return f"a number in {left}{low:g}, {high:g}{right}"


def optional_seconds(name: str, value: Optional[Any]) -> Optional[float]:
    """A positive number of seconds, or None."""
    if value is None:
        return None
    return real(name, value, 0, open_low=True, example="60")


def float_array(value: Any, message: str) -> np.ndarray:
    """``value`` as a float64 array, or ``TypeError(message)`` if it holds no numbers."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(message) from None


def check_observed(observed: Any, vectorized: bool) -> Any:
    """Return observed statistics as a finite float vector ``(k,)`` (any object if per-parameter).

    Raises
    ------
    TypeError, ValueError
        If vectorized and ``observed`` is not a finite numeric vector.
    """
    if not vectorized:
        return observed
    values = float_array(
        observed,
        f"observed must be numeric summary statistics, shape (k,) (got {type(observed)}); "
        "pass the observed data's summaries, e.g. np.array([mean, sd]).",
    )
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"observed must have shape (k,) (got {values.shape}); pass one vector of summary "
            "statistics, e.g. observed.ravel()."
        )
    if not np.isfinite(values).all():
        raise ValueError(
            f"observed must be finite (got {values.tolist()}); remove NaN/inf summaries."
        )
    return values


MAX_SAMPLE = 1e150
"""Largest magnitude of a posterior's particle: its squares, in covariances, stay finite."""


def check_samples(samples: Any) -> None:
    """Refuse posterior samples that are not a DataFrame of finite numbers within +-1e150."""
    message = (
        "samples must be a pandas DataFrame of real numbers, one column per parameter (got "
        f"{type(samples)}); pass e.g. pd.DataFrame(theta, columns=names)."
    )
    if not hasattr(samples, "to_numpy"):
        raise TypeError(message)
    values = float_array(samples.to_numpy(), message)
    if not (np.abs(values) <= MAX_SAMPLE).all():  # NaN fails too
        raise ValueError(
            f"samples must be finite numbers within +-{MAX_SAMPLE:g} (got {values.min()!r} to "
            f"{values.max()!r}); drop NaN/inf particles, or rescale the parameters."
        )


def normalised_weights(weights: Any, n: int) -> np.ndarray:
    """``weights`` divided by their sum; refused unless n finite non-negative numbers, sum > 0."""
    values = float_array(weights, f"weights must be numbers (got {type(weights)}).")
    finite = values.shape == (n,) and n > 0 and bool(np.isfinite(values).all())
    if not (finite and (values >= 0).all() and values.max() > 0):
        raise ValueError(
            f"weights must be {n} finite non-negative numbers with a positive sum (got shape "
            f"{values.shape}); pass one weight per sample."
        )
    with np.errstate(over="ignore"):
        total = values.sum()
    if not np.isfinite(total):  # weights near 1e308: scale them down first
        values = values / values.max()
        total = values.sum()
    return values / total


def rejection_mode(epsilon: Any, n_samples: Any, n_simulations: Any, quantile: Any) -> tuple:
    """`RejectionABC.run`'s stopping mode the arguments ask for, and the arguments as plain numbers.

    Raises
    ------
    ValueError
        For a bad value, or a combination that is not one of the three modes.
    """
    given = tuple(v is not None for v in (epsilon, n_samples, n_simulations, quantile))
    modes = {
        (True, True, False, False): "until",
        (False, False, True, True): "quantile",
        (True, False, True, False): "budget",
    }
    if given not in modes:
        raise ValueError(
            "run needs one stopping mode (got "
            f"epsilon={epsilon}, n_samples={n_samples}, n_simulations={n_simulations}, "
            f"quantile={quantile}); pass epsilon and n_samples, quantile and n_simulations, or "
            "epsilon and n_simulations."
        )
    if epsilon is not None:
        epsilon = real("epsilon", epsilon, 0, example="0.5")
    if quantile is not None:
        quantile = real("quantile", quantile, 0, 1, open_low=True, example="0.01")
    if n_samples is not None:
        n_samples = positive_int("n_samples", n_samples)
    if n_simulations is not None:
        n_simulations = positive_int("n_simulations", n_simulations, "100_000")
    return modes[given], epsilon, n_samples, n_simulations, quantile


def epsilon_schedule(epsilons: Sequence[float]) -> list:
    """``epsilons`` as a non-empty, non-increasing list of non-negative floats."""
    try:
        values = [real("epsilons", e, 0) for e in epsilons]
    except (TypeError, ValueError):
        values = []
    if not values or any(b > a for a, b in zip(values, values[1:])):
        raise ValueError(
            f"epsilons must be a non-empty, non-increasing list of non-negative numbers (got "
            f"{list(epsilons) if hasattr(epsilons, '__iter__') else epsilons!r}); e.g. "
            "epsilons=[inf, 10, 5, 2]."
        )
    return values


def epsilon_rule(
    quantile: Any, epsilons: Optional[Sequence[float]], target_acceptance_rate: Any
) -> Tuple[float, Optional[list], Optional[float]]:
    """PMC's epsilon options checked: ``(epsilon_quantile, epsilons, target_acceptance_rate)``."""
    quantile = real(
        "epsilon_quantile", quantile, 0, 1, open_low=True, open_high=True, example="0.5"
    )
    schedule = None if epsilons is None else epsilon_schedule(epsilons)
    if target_acceptance_rate is None:
        return quantile, schedule, None
    target = real(
        "target_acceptance_rate", target_acceptance_rate, 0, 1, open_low=True, example="0.1"
    )
    if schedule is not None:
        raise ValueError(
            "target_acceptance_rate chooses each epsilon, so it cannot go with an epsilons "
            "schedule (got both); pass one of them."
        )
    return quantile, schedule, target
