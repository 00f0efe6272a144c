"""The JVM class archive: recorded once, kept only when whole, mapped after, and never fatal."""

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from abcspark import jvm_archive, jvm_jit
from abcspark.session import java_executable


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(jvm_archive.SWITCH, raising=False)
    return tmp_path / "cache" / "abcspark"


def fake_java(folder: Path, content: bytes) -> str:
    path = folder / f"java-{len(content)}"
    path.write_bytes(content)
    return str(path)


def test_the_archive_is_keyed_by_the_java_executable(tmp_path, cache):
    one, other = fake_java(tmp_path, b"a"), fake_java(tmp_path, b"bb")
    assert jvm_archive.archive_path(one) == jvm_archive.archive_path(one)
    assert jvm_archive.archive_path(one) != jvm_archive.archive_path(other)
    assert jvm_archive.archive_path(one).parent == cache


def test_no_archive_records_one_and_an_archive_is_mapped(tmp_path, cache):
    java = fake_java(tmp_path, b"a")
    options, recording = jvm_archive.java_options(java)
    assert options.startswith(f"-XX:ArchiveClassesAtExit={recording} ")
    assert recording.parent == cache and not recording.exists()
    archive = jvm_archive.archive_path(java)
    archive.write_bytes(b"archive")
    options, recording = jvm_archive.java_options(java)
    assert options.startswith(f"-XX:SharedArchiveFile={archive} ") and recording is None
    assert "-Xlog:cds=off" in options


@pytest.mark.parametrize("word", ["0", "false", "OFF", "no"])
def test_the_switch_turns_it_off(tmp_path, cache, monkeypatch, word):
    monkeypatch.setenv(jvm_archive.SWITCH, word)
    assert jvm_archive.java_options(fake_java(tmp_path, b"a")) == (None, None)


def test_a_cache_that_cannot_be_written_means_no_archive(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert jvm_archive.java_options(fake_java(tmp_path, b"a")) == (None, None)


def no_home(cls):
    raise RuntimeError("Could not determine home directory.")


def test_no_home_folder_means_no_archive(tmp_path, monkeypatch):
    # As pathlib says it where neither HOME nor the password database names a home folder.
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(Path, "home", classmethod(no_home))
    assert jvm_archive.java_options(fake_java(tmp_path, b"a")) == (None, None)


def test_stale_recordings_are_removed_and_fresh_ones_kept(tmp_path, cache):
    java = fake_java(tmp_path, b"a")
    archive = jvm_archive.archive_path(java)
    cache.mkdir(parents=True)
    stale = archive.with_name(archive.name + ".1.recording")
    fresh = archive.with_name(archive.name + ".2.recording")
    for path in (stale, fresh):
        path.write_bytes(b"x")
    old = time.time() - jvm_archive.STALE_SECONDS - 10
    os.utime(stale, (old, old))
    jvm_archive.java_options(java)
    assert not stale.exists() and fresh.exists()


def stand_in_jvm(recording: Path, exit_code: int) -> subprocess.Popen:
    """A process that, like the gateway JVM, writes its recording when its stdin ends."""
    script = textwrap.dedent(
        f"""
        import pathlib, sys
        sys.stdin.read()
        pathlib.Path({str(recording)!r}).write_bytes(b"classes")
        sys.exit({exit_code})
        """
    )
    return subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE)


@pytest.mark.parametrize("exit_code, kept", [(0, True), (1, False)])
def test_a_recording_is_kept_only_if_the_jvm_exits_cleanly(tmp_path, cache, exit_code, kept):
    java = fake_java(tmp_path, b"a")
    _, recording = jvm_archive.java_options(java)
    process = stand_in_jvm(recording, exit_code)
    jvm_archive._keep(recording, process)
    assert process.returncode == exit_code
    assert jvm_archive.archive_path(java).exists() is kept
    assert not recording.exists()


def test_a_second_recording_does_not_replace_the_archive(tmp_path, cache):
    java = fake_java(tmp_path, b"a")
    _, recording = jvm_archive.java_options(java)
    archive = jvm_archive.archive_path(java)
    archive.write_bytes(b"first")
    jvm_archive._keep(recording, stand_in_jvm(recording, 0))
    assert archive.read_bytes() == b"first" and not recording.exists()


FIRST_QUERY = textwrap.dedent(
    """
    from pathlib import Path
    from abcspark.session import get_spark
    spark = get_spark()
    assert spark.range(0, 10, 1, 2).count() == 10
    pid = spark.sparkContext._gateway.proc.pid
    print("JVM:", Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\\0", b" ").decode())
    """
)


def first_query(cache: Path) -> subprocess.CompletedProcess:
    cache.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "XDG_CACHE_HOME": str(cache.parent)}
    env.pop(jvm_archive.SWITCH, None)
    env.pop(jvm_jit.SWITCH, None)
    # cwd: a JVM that crashes on a cut archive leaves its hs_err_pid*.log in its folder.
    done = subprocess.run(
        [sys.executable, "-c", FIRST_QUERY],
        env=env,
        cwd=cache.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.skipif(java_executable() is None, reason="needs Java")
def test_an_embedded_session_records_then_maps_and_survives_a_broken_archive(cache):
    first = first_query(cache)
    assert "-XX:ArchiveClassesAtExit=" in first.stdout
    assert "recording the JVM's class archive" in first.stderr
    (archive,) = cache.glob("*.jsa")
    assert archive.stat().st_size > 10_000_000
    assert not list(cache.glob("*.recording"))
    second = first_query(cache)
    assert f"-XX:SharedArchiveFile={archive}" in second.stdout
    assert jvm_jit.QUICK in second.stdout.split("JVM:")[1]
    assert "recording" not in second.stderr
    # A cut archive (a full disk, a killed copy) makes the JVM refuse to start.
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    third = first_query(cache)
    assert "did not start with its class archive" in third.stderr
    jvm = third.stdout.split("JVM:")[1]
    assert "SharedArchiveFile" not in jvm and "ArchiveClassesAtExit" not in jvm
    assert jvm_jit.QUICK not in jvm  # the fallback is Java's plain launch
    assert not archive.exists()


@pytest.mark.parametrize(
    "value, options", [(None, jvm_jit.QUICK), ("", jvm_jit.QUICK), ("full", ""), (" FULL ", "")]
)
def test_the_quick_jit_is_the_default_and_full_keeps_javas(monkeypatch, value, options):
    if value is None:
        monkeypatch.delenv(jvm_jit.SWITCH, raising=False)
    else:
        monkeypatch.setenv(jvm_jit.SWITCH, value)
    assert jvm_jit.jit_options() == options
