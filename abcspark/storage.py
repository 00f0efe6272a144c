"""Files of saved posteriors and checkpoints, on a local disk or any Hadoop-compatible URI.

A plain path (or a ``file:`` URI) is written with the standard library; any other URI
(``s3://``, ``hdfs://``, ``abfss://``, ...) through the Hadoop FileSystem of the active Spark
session, so whatever the cluster can write (EMRFS on EMR, HDFS) works without extra Python
packages. A reader of a name sees its old bytes or its new bytes, never half a file:

* local: a temporary file, fsync, ``os.replace`` over the name, fsync of the folder;
* ``hdfs``: a temporary file, then one rename with ``Options.Rename.OVERWRITE`` (atomic on HDFS);
* object stores (``s3``, ``s3a``, ``s3n``, ``gs``): the object itself, which appears whole when
  its upload completes; a rename there is a copy and a delete, so it is not used;
* any other file system: a temporary file; the old file is renamed aside, the new one renamed in,
  the old one deleted. Between the two renames the name is missing, so :meth:`HadoopStorage.read`
  then reads the copy set aside, which also survives a crash in that moment.

:meth:`~LocalStorage.create` makes a file only if the name is free, atomically: the one caller
that wins owns it (a checkpoint's lock). Locally it is a hard link of a whole temporary file
(``O_CREAT | O_EXCL`` where links are not supported); through Hadoop, ``create`` with
``overwrite=False``, atomic on HDFS. On S3, S3A (Hadoop 3.4.2 and later) makes it a conditional
``PUT`` (``If-None-Match``) where ``fs.s3a.create.conditional.enabled`` allows it; otherwise,
and on EMRFS, it checks the name before the upload, so two creators starting within the same
moment may both succeed.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Any, List, Optional
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np

FORMAT_VERSION = 2
"""The layout of saved posteriors and checkpoints; version 1 carried no number."""

_LEFTOVER = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{32}\.(?P<kind>tmp|old|gone)")
"""A temporary file, a copy set aside, or a removed lock (``.<name>.<token>.<kind>``)."""
_WHOLE_OBJECTS = ("s3", "s3a", "s3n", "gs")
_CONDITIONAL_CREATE = "fs.option.create.conditional.overwrite"
_TAKEN = ("FileAlreadyExistsException", "RemoteFileChangedException")


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


def unique_name(stem: str, suffix: str) -> str:
    """A file name no other write uses: ``<stem>-<32 hex digits><suffix>``."""
    return f"{stem}-{uuid.uuid4().hex}{suffix}"


def is_named(name: Any, stem: str, suffix: str) -> bool:
    """Whether ``name`` is ``<stem><suffix>`` or a :func:`unique_name` of the two."""
    pattern = rf"{re.escape(stem)}(-[0-9a-f]{{32}})?{re.escape(suffix)}"
    return isinstance(name, str) and re.fullmatch(pattern, name) is not None


def leftover(name: str) -> Optional[tuple]:
    """``(name, kind)`` of a file a killed write left (``'tmp'``, ``'old'``, ``'gone'``), else None."""
    found = _LEFTOVER.fullmatch(name)
    return (found.group("name"), found.group("kind")) if found else None


def for_path(path: str, spark: Any = None) -> LocalStorage | HadoopStorage:
    """The storage that serves ``path``: local for plain paths and ``file:`` URIs, else Hadoop."""
    text = str(path)
    parsed = urlparse(text)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost") or not parsed.path:
            raise ValueError(
                f"path must be a file: URI of a folder on this machine, file:/folder or "
                f"file:///folder (got {text!r}); pass a plain path, or a URI Spark can write."
            )
        return LocalStorage(url2pathname(parsed.path))
    if parsed.scheme == "" or len(parsed.scheme) == 1:  # one letter: a Windows drive
        return LocalStorage(text)
    if spark is None:
        from abcspark.session import get_spark

        spark = get_spark()
    return HadoopStorage(text, spark)


class LocalStorage:
    """A folder on this machine's disk."""

    def __init__(self, root: str):
        self.root = Path(root)

    def write(self, name: str, data: bytes) -> None:
        """Write ``name`` atomically (temporary file, fsync, rename, fsync of the folder)."""
        os.replace(self._temporary(name, data), self.root / name)
        self._sync_folder()

    def create(self, name: str, data: bytes) -> bool:
        """Create ``name`` holding ``data`` if no file has that name; False if one has."""
        tmp = self._temporary(name, data)
        try:
            os.link(tmp, self.root / name)  # atomic, and the file is whole when it appears
        except FileExistsError:
            return False
        except OSError:  # no hard links on this file system
            return self._create_exclusively(name, data)
        finally:
            tmp.unlink(missing_ok=True)
        self._sync_folder()
        return True

    def read(self, name: str) -> bytes:
        """The bytes of ``name`` (``FileNotFoundError`` if there is none)."""
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

    def rename(self, name: str, new: str) -> bool:
        """Rename ``name`` to the unused name ``new``; False if ``name`` is gone."""
        try:
            os.rename(self.root / name, self.root / new)
        except FileNotFoundError:
            return False
        return True

    def _temporary(self, name: str, data: bytes) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{name}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return tmp

    def _create_exclusively(self, name: str, data: bytes) -> bool:
        try:
            fd = os.open(self.root / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return True

    def _sync_folder(self) -> None:
        """Make the rename itself durable (a folder cannot be opened on Windows)."""
        try:
            fd = os.open(self.root, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


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
        scheme = urlparse(root).scheme.lower()
        self.in_place = scheme in _WHOLE_OBJECTS
        self.atomic_overwrite = scheme == "hdfs"

    def write(self, name: str, data: bytes) -> None:
        """Write ``name`` so that readers see its old or its new bytes (see the module notes)."""
        final = self._path(name)
        if self.in_place:
            self._put(final, data)
            return
        tmp = self._path(f".{name}.{uuid.uuid4().hex}.tmp")
        self._put(tmp, data)
        if not self._fs.exists(final) and self._fs.rename(tmp, final):
            return
        if self.atomic_overwrite:
            rename = self._jvm.org.apache.hadoop.fs.Options.Rename
            overwrite = self._jvm.py4j.GatewayServer  # placeholder replaced below
            del overwrite
            options = self._array(rename, rename.OVERWRITE)
            self._fs.rename(tmp, final, options)
            return
        aside = self._path(f".{name}.{uuid.uuid4().hex}.old")
        self._fs.rename(final, aside)
        if not self._fs.rename(tmp, final):
            raise OSError(f"could not rename {tmp} to {final}; check write access to {self.root}.")
        self._fs.delete(aside, False)

    def create(self, name: str, data: bytes) -> bool:
        """Create ``name`` holding ``data`` if no file has that name; False if one has."""
        try:
            builder = self._fs.createFile(self._path(name)).overwrite(False)
            stream = builder.opt(_CONDITIONAL_CREATE, True).build()
            try:
                stream.write(bytearray(data))
            finally:
                stream.close()  # a conditional PUT finds a rival here
        except Exception as exc:
            if _java_class(exc).endswith(_TAKEN):
                return False
            raise
        return True

    def read(self, name: str) -> bytes:
        """The bytes of ``name``, or of its copy set aside while it is being replaced."""
        try:
            return self._get(self._path(name))
        except FileNotFoundError:
            for aside in self._asides(name):
                try:
                    return self._get(aside)
                except FileNotFoundError:  # the write it belonged to just ended
                    pass
            return self._get(self._path(name))

    def exists(self, name: str) -> bool:
        """Whether ``name`` exists (or a copy of it set aside while it is being replaced)."""
        return bool(self._fs.exists(self._path(name))) or bool(self._asides(name))

    def names(self) -> List[str]:
        """The names in the folder (none if it does not exist)."""
        root = self._path("")
        if not self._fs.exists(root):
            return []
        return sorted(status.getPath().getName() for status in self._fs.listStatus(root))

    def delete(self, name: str) -> None:
        """Remove ``name`` if present."""
        self._fs.delete(self._path(name), False)

    def rename(self, name: str, new: str) -> bool:
        """Rename ``name`` to the unused name ``new``; False if ``name`` is gone."""
        return bool(self._fs.rename(self._path(name), self._path(new)))

    def _put(self, path: Any, data: bytes) -> None:
        stream = self._fs.create(path, True)
        try:
            stream.write(bytearray(data))
        finally:
            stream.close()

    def _get(self, path: Any) -> bytes:
        try:
            stream = self._fs.open(path)
        except Exception as exc:
            if _java_class(exc) == "java.io.FileNotFoundException":
                raise FileNotFoundError(f"no file {path} under {self.root}") from None
            raise
        try:
            return bytes(self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
        finally:
            stream.close()

    def _asides(self, name: str) -> List[Any]:
        found = (leftover(n) for n in self.names())
        return [self._path(f".{n}") for n, kind in filter(None, found) if False] or [
            self._path(n) for n in self.names() if leftover(n) == (name, "old")
        ]

    def _array(self, kind: Any, *values: Any) -> Any:
        array = self._jvm.py4j.java_gateway  # placeholder
        del array
        raise NotImplementedError


def _java_class(exc: BaseException) -> str:
    """The class name of the Java exception behind a py4j error ('' for a Python one)."""
    java = getattr(exc, "java_exception", None)
    return "" if java is None else str(java.getClass().getName())
