"""What every benchmark section shares: fresh-process cases, peak memory, rows of the table.

Each measured case runs in a fresh Python process (``python benchmarks/case.py MODULE.FUNCTION
JSON``), so its peak memory is its own: the case reports the peak resident set (``VmHWM``) of
its Python process and, when it ran Spark, of the driver JVM it started.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS = HERE / "peers"
OUT = HERE / "out"


@dataclass
class Row:
    """One figure of the table: a benchmark's case, what was measured and how it compares."""

    section: str
    case: str
    figure: str
    value: float
    unit: str = ""
    note: str = ""


@dataclass
class Target:
    """One target of issue #9 (or #3, #4, #5): the measured ratio against the goal."""

    name: str
    measured: float
    goal: float
    higher_is_better: bool = True
    note: str = ""

    @property
    def met(self) -> bool:
        if self.higher_is_better:
            return self.measured >= self.goal
        return self.measured <= self.goal

    def as_dict(self) -> dict:
        return {**asdict(self), "met": self.met}


def environment() -> Dict[str, str]:
    """The environment of a case: abcspark and benchmarks/ importable (by local Spark workers
    too), Spark on loopback."""
    env = dict(os.environ)
    paths = [str(ROOT), str(HERE), env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    return env


def replace_row(rows: Any, row: dict, key: Sequence[str]) -> Any:
    """``rows`` (a pandas DataFrame) with ``row`` appended instead of any row of its ``key``."""
    import numpy as np
    import pandas as pd

    if len(rows):
        same = np.ones(len(rows), dtype=bool)
        for name in key:
            same &= rows[name].astype(str).to_numpy() == str(row[name])
        rows = rows[~same]
    return pd.concat([rows, pd.DataFrame([row])], ignore_index=True)


def add_grid_options(parser: Any, seeds: int, observations: int, timeout: float) -> None:
    """The options :func:`cases` reads beyond ``--budgets --models --methods``, and those of
    the CSV a grid benchmark writes (``--append``, ``--report``), with their defaults."""
    parser.add_argument("--seeds", type=int, default=seeds, help="how many seeds per observation")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--observations", type=int, default=observations, choices=(1, 2))
    parser.add_argument("--timeout", type=float, default=timeout, help="seconds per pyABC run")
    parser.add_argument("--append", action="store_true", help="keep earlier rows")
    parser.add_argument("--report", action="store_true", help="only rebuild the table from the CSV")


def known_budgets(parser: Any, budgets: Sequence[float], n_particles: Dict[int, int]) -> list:
    """``budgets`` as ints, each a key of ``n_particles`` (else the parser's error)."""
    budgets = [int(b) for b in budgets]
    unknown = [b for b in budgets if b not in n_particles]
    if unknown:
        parser.error(f"budgets must be among {sorted(n_particles)} (got {unknown})")
    return budgets


def cases(args: Any, models: Dict[str, Any]) -> Iterator[tuple]:
    """``(budget, model, observation, seed, method)`` in the order a benchmark runs them, from
    its ``--budgets --models --observations --first-seed --seeds --methods``."""
    for budget in args.budgets:
        for name in args.models:
            for observation in range(args.observations):
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    for method in args.methods:
                        yield budget, models[name], observation, seed, method


def pyabc_simulations(rows: Any, model: str, observation: int, budget: int, seed: int) -> int:
    """The simulations pyABC's run of the same key used (in ``rows``, this benchmark's rows so
    far), for a method run at pyABC's count."""
    if not len(rows) or "pyabc" not in set(rows["method"]):
        raise LookupError("a method at pyABC's count needs pyABC's run first: list pyabc before it")
    same = (rows["method"] == "pyabc") & (rows["model"] == model)
    same &= (rows["budget"] == budget) & (rows["seed"] == seed)
    same &= rows["observation"] == observation
    used = rows.loc[same, "n_simulations"].dropna()
    if used.empty:
        raise LookupError(f"no pyABC run of {model}, B={budget}, seed {seed}, obs {observation}")
    return int(used.iloc[-1])


def run_case(
    target: str, kwargs: Dict[str, Any], python: Optional[str] = None, timeout: float = 1800
) -> Dict[str, Any]:
    """Run ``target`` (``module.function`` of benchmarks/) in a fresh process; return its dict.

    Raises
    ------
    RuntimeError
        If the case fails; the message ends with its standard error.
    """
    command = [python or sys.executable, str(HERE / "case.py"), target, json.dumps(kwargs)]
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env=environment(), timeout=timeout
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(
            f"case {target} must succeed (got exit code {done.returncode}); its stderr ends:\n"
            + "\n".join(done.stderr.splitlines()[-30:])
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.setdefault("process_seconds", time.perf_counter() - started)
    return result


def peak_kib(pid: str = "self") -> Optional[int]:
    """Peak resident set (``VmHWM``, KiB) of process ``pid``, or None if it cannot be read."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def driver_jvm_pid() -> Optional[int]:
    """PID of the driver JVM this Python process started (``java ... SparkSubmit``), if any.

    A local cluster's master and worker JVMs are children too; they are not the driver.
    """
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = stat.rsplit(")", 1)[1].split()[1]
        if parent == me and b"java" in cmdline.split(b"\0")[0] and b"SparkSubmit" in cmdline:
            return int(entry.name)
    return None


def peak_memory() -> Dict[str, Optional[float]]:
    """Peak RSS in MiB of this Python process and of its driver JVM (None without Spark)."""
    jvm = driver_jvm_pid()
    jvm_kib = peak_kib(str(jvm)) if jvm is not None else None
    return {
        "python_mib": peak_kib() / 1024,
        "jvm_mib": None if jvm_kib is None else jvm_kib / 1024,
    }


def spark_session(master: str = "local[2]") -> Any:
    """A quiet embedded session, as ``abcspark.get_spark`` starts it for a user."""
    from abcspark.session import get_spark

    spark = get_spark(master=master)
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def timed(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple:
    """``(seconds, result)`` of one call ``function(*args, **kwargs)``."""
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def median(values: List[float]) -> float:
    return float(statistics.median(values))


def peer_python(name: str) -> str:
    """Install a peer (``bash benchmarks/setup_<name>.sh``) if needed; return its python."""
    script = HERE / f"setup_{name}.sh"
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"{script.name} must print the peer's python on its last line (got exit code "
            f"{done.returncode}); its stderr ends:\n" + "\n".join(done.stderr.splitlines()[-20:])
        )
    return lines[-1]
