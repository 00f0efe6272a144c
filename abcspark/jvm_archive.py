"""A class-data-sharing archive that halves the start of the Spark JVM abcspark launches.

A fresh Spark JVM spends most of its first seconds loading and verifying Spark's classes. Java 13
and later can dump the classes a run loaded into an archive at exit (``-XX:ArchiveClassesAtExit``)
and map that archive at the next start (``-XX:SharedArchiveFile``). abcspark does both for the
JVM it launches itself (the embedded session), never for spark-submit's, a notebook's or a
cluster's:

- with no archive yet, the JVM records one, and when this Python process exits it waits for the
  JVM to write it (about 10-20 s, once per Java and Spark installation) and keeps it only if the
  JVM exited cleanly;
- with one, the JVM maps it: measured here, the JVM's start, the session and the first query
  took 6.5 s instead of 10.5 s (``benchmarks/startup.py``, README "A fresh process").

The archive (about 150 MB) lives in ``$XDG_CACHE_HOME/abcspark`` (default ``~/.cache/abcspark``),
keyed by the Java executable and the Spark installation (its folder and jars), so an upgrade or
another virtual environment makes its own. ``ABCSPARK_JVM_ARCHIVE=0`` turns it off. The classes
are the same either way: no result changes. An archive the JVM cannot map makes the launch fail;
:func:`launch` then removes it and launches again without it.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Optional, Tuple

log = logging.getLogger("abcspark")

SWITCH = "ABCSPARK_JVM_ARCHIVE"
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"
"""The JVM would print a warning per class it cannot archive (signed jars, old bytecode)."""
STALE_SECONDS = 3600
"""A recording older than this was left by a process that died before keeping it."""
DUMP_TIMEOUT = 300.0


def launch(java: Optional[str], extra: str = "") -> None:
    """Launch Spark's JVM (``SparkContext._ensure_initialized``) with the archive's options.

    ``extra`` are more JVM options for the same launch (:mod:`abcspark.jvm_jit`). If the JVM
    does not start with them all (an archive it cannot map, a Java without the options), the
    archive is removed and the JVM launched once more without any; a second failure is
    pyspark's own error.
    """
    from pyspark import SparkConf, SparkContext

    archive, recording = java_options(java) if java else (None, None)
    options = " ".join(option for option in (archive, extra) if option)
    if not options:
        SparkContext._ensure_initialized()
        return
    conf = SparkConf(loadDefaults=False).set("spark.driver.defaultJavaOptions", options)
    try:
        SparkContext._ensure_initialized(conf=conf)
    except Exception as exc:  # noqa: BLE001 (pyspark 3.5 raises a bare Exception here)
        log.warning("Spark's JVM did not start with its class archive (%s); starting without", exc)
        discard(options)
        SparkContext._ensure_initialized()
        return
    if recording is not None:
        print(
            "abcspark: recording the JVM's class archive so that Spark starts faster next time "
            f"(once; it is written when this process exits, 10-20 s; {SWITCH}=0 turns it off)",
            file=sys.stderr,
            flush=True,
        )
        atexit.register(_at_exit, recording, SparkContext._gateway.proc)


def enabled() -> bool:
    """False if ``$ABCSPARK_JVM_ARCHIVE`` is 0, false, no or off."""
    return os.environ.get(SWITCH, "").strip().lower() not in ("0", "false", "no", "off")


def folder() -> Path:
    """Where archives live: ``$XDG_CACHE_HOME/abcspark``, else ``~/.cache/abcspark``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "abcspark"


def archive_path(java: str) -> Path:
    """The archive for this Java executable and Spark installation (its folder and jars)."""
    import pyspark
    from pyspark.find_spark_home import _find_spark_home

    jars = Path(os.path.realpath(_find_spark_home()), "jars")  # the JVM's class path
    names = sorted(p.name for p in jars.glob("*.jar")) if jars.is_dir() else []
    real = os.path.realpath(java)
    stat = os.stat(real)
    text = "\n".join([real, str(stat.st_size), str(stat.st_mtime), str(jars), *names])
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    return folder() / f"spark-{pyspark.__version__}-{key}.jsa"


def java_options(java: str) -> Tuple[Optional[str], Optional[Path]]:
    """``(options, recording)``: the JVM options to launch with, and where it records, if it does.

    ``(None, None)`` when turned off, or when the cache folder cannot be written.
    """
    if not enabled():
        return None, None
    try:
        archive = archive_path(java)
        archive.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(archive)
        if archive.exists():
            return f"-XX:SharedArchiveFile={archive} {QUIET}", None
        recording = archive.with_name(f"{archive.name}.{uuid.uuid4().hex}.recording")
        recording.touch()
        recording.unlink()  # the folder is writable
    except (OSError, RuntimeError) as exc:  # RuntimeError: no home folder to cache in
        log.info("no JVM class archive (%s)", exc)
        return None, None
    return f"-XX:ArchiveClassesAtExit={recording} {QUIET}", recording


def _at_exit(recording: Path, process: subprocess.Popen) -> None:
    """At this process's exit: stop Spark, then keep the JVM's recording if it is whole."""
    if process.poll() is None:
        _stop_spark()  # else pyspark 3.5's accumulator server prints the JVM's going
    _keep(recording, process)


def _keep(recording: Path, process: subprocess.Popen) -> None:
    """End ``process`` (the JVM), wait for it, and keep its ``recording`` if it exited cleanly."""
    archive = recording.with_name(recording.name.split(".jsa.")[0] + ".jsa")
    try:
        if process.poll() is None:
            if process.stdin is not None:
                process.stdin.close()  # the gateway JVM exits when its standard input ends
            process.wait(timeout=DUMP_TIMEOUT)
        if process.returncode == 0 and recording.exists() and not archive.exists():
            os.replace(recording, archive)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.info("the JVM class archive was not kept (%s)", exc)
    finally:
        recording.unlink(missing_ok=True)


def _stop_spark() -> None:
    from pyspark import SparkContext

    active = SparkContext._active_spark_context
    if active is not None:
        try:
            active.stop()
        except Exception as exc:  # noqa: BLE001 (at exit: the archive matters, not the stop)
            log.info("stopping Spark at exit: %s", exc)


def discard(options: str) -> None:
    """Remove the archive named in ``options`` (the JVM could not map it)."""
    for option in options.split():
        if option.startswith("-XX:SharedArchiveFile="):
            Path(option.split("=", 1)[1]).unlink(missing_ok=True)


def _remove_stale(archive: Path) -> None:
    for path in archive.parent.glob(f"{archive.name}.*.recording"):
        try:
            if time.time() - path.stat().st_mtime > STALE_SECONDS:
                path.unlink()
        except OSError:
            pass
