"""Files of saved posteriors and checkpoints, on a local disk or any Hadoop-compatible URI.

A plain path or ``file:`` URI is written with the standard library, any other URI through the Hadoop
FileSystem of a classic Spark session (EMRFS on EMR, HDFS; Spark Connect has none). A reader of a
name sees its old or its new bytes, never half a file nor none: locally a synced temporary file
replaces it; on ``hdfs`` a temporary file is renamed over it (``Rename.OVERWRITE``: atomic there);
on object stores (``s3``, ``s3a``, ``gs``) the object itself is written, whole once uploaded (a
rename there is a copy and a delete); elsewhere the old file is renamed aside and the new one in,
and :meth:`HadoopStorage.read` reads the copy set aside in between (or after a crash there).

``create`` makes a file only where none is, atomically (a checkpoint's lock): locally a hard link to
a whole temporary file (``O_CREAT | O_EXCL`` without links); through Hadoop ``create`` with
``overwrite=False``, atomic on HDFS. On S3, S3A of Hadoop 3.4.2+ (HADOOP-19256) makes it a
conditional PUT (``If-None-Match``) where ``fs.s3a.create.conditional.enabled`` allows; else (EMRFS,
older S3A) check and upload are two requests, and two creators at once may both win.
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

from abcspark.connect import HADOOP_INSTEAD, require_classic

FORMAT_VERSION = 2
"""The layout of saved posteriors and checkpoints; version 1 carried no number."""

_LEFTOVER = re.compile(r"\.(.+)\.[0-9a-f]{32}\.(tmp|old|gone)")  # see leftover()
_OBJECT_STORES = ("s3", "s3a", "s3n", "gs")
_TAKEN = ("FileAlreadyExists", "AlreadyBeingCreated", "RemoteFileChanged")  # HDFS, S3A too


def json_default(value: Any) -> Any:
    """NumPy scalars and arrays as JSON values (``json.dumps(default=...)``)."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()  # a Python scalar for a NumPy one
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


def leftover(name: str) -> Optional[tuple]:
    """``(name, kind)`` of ``.<name>.<token>.<kind>``, left by a killed write (tmp, old, gone)."""
    found = _LEFTOVER.fullmatch(name)
    return found.groups() if found else None


def write_pair(store: Any, index: str, document: dict, data_name: str, data: bytes) -> None:
    """Write ``data``, then the JSON ``document`` naming it: the pair replaces an earlier one whole.

    ``data_name`` ``<stem><suffix>`` becomes ``<stem>-<token><suffix>``, named in ``index`` under
    ``stem``; earlier data files and what killed writes left are deleted after."""
    stem, suffix = os.path.splitext(data_name)
    name = f"{stem}-{uuid.uuid4().hex}{suffix}"
    document = {"format": FORMAT_VERSION, stem: name, **document}
    text = json.dumps(document, indent=2, default=json_default).encode()  # before any write
    store.write(name, data)
    store.write(index, text)
    for other in store.names():
        base = (leftover(other) or (other,))[0]
        if other not in (name, index) and (base == index or _is_data(base, data_name)):
            store.delete(other)


def pair_data(document: dict, data_name: str, path: str) -> str:
    """The data file a :func:`write_pair` document names (``data_name`` in the layout before)."""
    name = document.get(os.path.splitext(data_name)[0], data_name)
    if not _is_data(name, data_name):
        raise ValueError(
            f"{path} must name a data file of its folder such as {data_name} (got {name!r}); "
            "the file is damaged: save it again."
        )
    return name


def _is_data(name: Any, data_name: str) -> bool:
    stem, suffix = map(re.escape, os.path.splitext(data_name))
    return isinstance(name, str) and bool(re.fullmatch(f"{stem}(-[0-9a-f]{{32}})?{suffix}", name))


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
    from abcspark.session import get_spark  # a URI needs a session: the given one, else found

    return HadoopStorage(text, spark if spark is not None else get_spark())


class LocalStorage:
    """A folder on this machine's disk."""

    def __init__(self, root: str):
        self.root = Path(root)

    def write(self, name: str, data: bytes) -> None:
        """Write ``name`` atomically (temporary file, fsync, rename)."""
        os.replace(self._temporary(name, data), self.root / name)

    def create(self, name: str, data: bytes) -> bool:
        """Create ``name`` holding ``data`` if no file has that name; False if one has."""
        tmp = self._temporary(name, data)
        try:
            os.link(tmp, self.root / name)  # atomic, and the file is whole when it appears
        except FileExistsError:
            return False
        except OSError:  # no hard links on this file system
            return self._temporary(name, data, os.O_EXCL) is not None
        finally:
            tmp.unlink(missing_ok=True)
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
            return os.rename(self.root / name, self.root / new) is None
        except FileNotFoundError:
            return False

    def _temporary(self, name: str, data: bytes, exclusive: int = 0) -> Optional[Path]:
        """A temporary file of ``data``, synced (with ``os.O_EXCL``: ``name``, None if taken)."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / (name if exclusive else f".{name}.{uuid.uuid4().hex}.tmp")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | exclusive, 0o644)
        except FileExistsError:
            return None
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return path


class HadoopStorage:
    """A folder under a Hadoop-compatible URI, through the JVM of a Spark session."""

    def __init__(self, root: str, spark: Any):
        require_classic(spark, f"{root!r}, a Hadoop URI read through Spark's JVM,", HADOOP_INSTEAD)
        self._jvm = jvm = spark.sparkContext._jvm
        self._gateway = spark.sparkContext._gateway
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
        self.in_place = urlparse(root).scheme.lower() in _OBJECT_STORES
        self.atomic_overwrite = urlparse(root).scheme.lower() == "hdfs"

    def write(self, name: str, data: bytes) -> None:
        """Write ``name`` so that readers see its old or its new bytes (see the module notes)."""
        tmp = name if self.in_place else f".{name}.{uuid.uuid4().hex}.tmp"
        self._send(self._fs.create(self._path(tmp), True), data)
        if self.in_place or not self._fs.exists(self._path(name)) and self.rename(tmp, name):
            return
        if self.atomic_overwrite:  # HDFS: one namenode operation replaces the old file
            rename = self._jvm.org.apache.hadoop.fs.Options.Rename
            options = self._gateway.new_array(rename, 1)
            options[0] = rename.OVERWRITE
            return self._fs.rename(self._path(tmp), self._path(name), options)  # void in Java
        aside = f".{name}.{uuid.uuid4().hex}.old"
        self.rename(name, aside)
        if not self.rename(tmp, name):
            raise OSError(f"could not rename {tmp} to {name}; check write access to {self.root}.")
        self._fs.delete(self._path(aside), False)

    def create(self, name: str, data: bytes) -> bool:
        """Create ``name`` holding ``data`` unless a file has that name (False); see the notes."""
        try:
            builder = self._fs.createFile(self._path(name)).overwrite(False).recursive()
            self._send(builder.opt("fs.option.create.conditional.overwrite", True).build(), data)
        except Exception as exc:
            if _java_class(exc).removesuffix("Exception").endswith(_TAKEN):
                return False
            raise
        return True

    def read(self, name: str) -> bytes:
        """The bytes of ``name``, or of its copy set aside while it is being replaced."""
        for attempt in range(3):  # the name; a copy set aside; the name: a write just ended
            for path in self._asides(name) if attempt == 1 else [self._path(name)]:
                try:
                    stream = self._fs.open(path)
                except Exception as exc:
                    if _java_class(exc) != "java.io.FileNotFoundException":
                        raise
                    continue
                try:
                    return bytes(self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
                finally:
                    stream.close()
        raise FileNotFoundError(f"no file {name} under {self.root}")

    def exists(self, name: str) -> bool:
        """Whether ``name`` exists (or a copy of it set aside while it is being replaced)."""
        return bool(self._fs.exists(self._path(name))) or bool(self._asides(name))

    def names(self) -> List[str]:
        """The names in the folder (none if it does not exist)."""
        root = self._path("")
        statuses = self._fs.listStatus(root) if self._fs.exists(root) else []
        return sorted(status.getPath().getName() for status in statuses)

    def delete(self, name: str) -> None:
        """Remove ``name`` if present, and any copy of it set aside by a killed write."""
        for path in [self._path(name), *self._asides(name)]:
            self._fs.delete(path, False)

    def rename(self, name: str, new: str) -> bool:
        """Rename ``name`` to the unused name ``new``; False if ``name`` is gone."""
        try:
            return bool(self._fs.rename(self._path(name), self._path(new)))
        except Exception as exc:  # a source gone: some file systems raise, others return False
            if _java_class(exc) != "java.io.FileNotFoundException":
                raise
            return False

    @staticmethod
    def _send(stream: Any, data: bytes) -> None:
        try:
            stream.write(bytearray(data))
        finally:
            stream.close()  # where an object store uploads, and a conditional PUT finds a rival

    def _asides(self, name: str) -> List[Any]:
        if self.in_place or self.atomic_overwrite:  # no copies set aside there: no listing
            return []
        return [self._path(n) for n in self.names() if leftover(n) == (name, "old")]


def _java_class(exc: BaseException) -> str:
    """The class name of the Java exception behind a py4j error ('' for a Python one)."""
    java = getattr(exc, "java_exception", None)
    return "" if java is None else str(java.getClass().getName())
