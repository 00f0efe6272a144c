"""Files of saved posteriors and checkpoints, on a local disk or any Hadoop-compatible URI.

A plain path (or ``file://``) is written with the standard library; any other URI (``s3://``,
``hdfs://``, ``abfss://``, ...) through the Hadoop FileSystem of the active Spark session, so
whatever the cluster can write (EMRFS on EMR, HDFS) works without extra Python packages.
Every write goes to a temporary name first and is then renamed into place, so a reader never
sees half a file.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any, List
from urllib.parse import urlparse

import numpy as np

FORMAT_VERSION = 2
"""The layout of saved posteriors and checkpoints; version 1 carried no number."""


def json_default(value: Any) -> Any:
    """NumPy scalars and arrays as JSON values (``json.dumps(default=...)``)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value)} to JSON metadata")


def read_json(store: Any, name: str, path: str) -> dict:
    """The JSON document ``name`` of a store, or a clear error if it is damaged."""
    try:
        document = json.loads(store.read(name))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"{path}/{name} must be a JSON document written by abcspark (got unreadable "
            f"content: {exc}); the file is damaged: write the run again."
        ) from None
    if not isinstance(document, dict):
        raise ValueError(
            f"{path}/{name} must be a JSON object written by abcspark (got a "
            f"{type(document).__name__}); the file is damaged: write the run again."
        )
    return document


def check_format(document: dict, path: str) -> None:
    """Refuse a document of another format version, saying which version it is."""
    found = document.get("format")
    if found != FORMAT_VERSION:
        written = "no format version (abcspark 0.1)" if found is None else f"format {found!r}"
        raise ValueError(
            f"{path} must be in abcspark's format {FORMAT_VERSION} (got {written}); this "
            "version cannot read it: rerun it with this version of abcspark."
        )


def for_path(path: str, spark: Any = None) -> LocalStorage | HadoopStorage:
    """The storage that serves ``path``: local for plain paths, Hadoop for other URIs."""
    scheme = urlparse(str(path)).scheme
    if scheme in ("", "file") or len(scheme) == 1:  # one letter: a Windows drive
        return LocalStorage(str(path)[7:] if scheme == "file" else str(path))
    if spark is None:
        from abcspark.session import get_spark

        spark = get_spark()
    return HadoopStorage(str(path), spark)


class LocalStorage:
    """A folder on this machine's disk."""

    def __init__(self, root: str):
        self.root = Path(root)

    def write(self, name: str, data: bytes) -> None:
        """Write ``name`` atomically (temporary file, fsync, rename)."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{name}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.root / name)

    def read(self, name: str) -> bytes:
        """The bytes of ``name``."""
        return (self.root / name).read_bytes()

    def exists(self, name: str) -> bool:
        """Whether ``name`` exists."""
        return (self.root / name).exists()

    def names(self) -> List[str]:
        """The names in the folder (none if it does not exist)."""
        return sorted(p.name for p in self.root.iterdir()) if self.root.is_dir() else []

    def delete(self, name: str) -> None:
        """Remove ``name`` if present."""
        (self.root / name).unlink(missing_ok=True)


class HadoopStorage:
    """A folder under a Hadoop-compatible URI, through the JVM of a Spark session."""

    def __init__(self, root: str, spark: Any):
        self._jvm = jvm = spark.sparkContext._jvm
        self._path = lambda name: jvm.org.apache.hadoop.fs.Path(f"{root.rstrip('/')}/{name}")
        conf = spark.sparkContext._jsc.hadoopConfiguration()
        try:
            self._fs = self._path("").getFileSystem(conf)
        except Exception as exc:
            reason = str(getattr(exc, "java_exception", exc)).strip().splitlines()[0]
            raise ValueError(
                f"path must be a local folder or a URI this Spark can write (got {root!r}: "
                f"{reason}); use e.g. s3://bucket/prefix on EMR, hdfs://..., or a local path."
            ) from None
        self.root = root

    def write(self, name: str, data: bytes) -> None:
        """Write ``name``: a temporary object, then a rename over the final name."""
        tmp = self._path(f".{name}.{uuid.uuid4().hex}.tmp")
        stream = self._fs.create(tmp, True)
        try:
            stream.write(bytearray(data))
        finally:
            stream.close()
        final = self._path(name)
        self._fs.delete(final, False)
        if not self._fs.rename(tmp, final):
            raise OSError(f"could not rename {tmp} to {final}; check write access to {self.root}.")

    def read(self, name: str) -> bytes:
        """The bytes of ``name``."""
        stream = self._fs.open(self._path(name))
        try:
            return bytes(self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
        finally:
            stream.close()

    def exists(self, name: str) -> bool:
        """Whether ``name`` exists."""
        return bool(self._fs.exists(self._path(name)))

    def names(self) -> List[str]:
        """The names in the folder (none if it does not exist)."""
        root = self._path("")
        if not self._fs.exists(root):
            return []
        return sorted(status.getPath().getName() for status in self._fs.listStatus(root))

    def delete(self, name: str) -> None:
        """Remove ``name`` if present."""
        self._fs.delete(self._path(name), False)
