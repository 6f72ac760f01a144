"""Parquet reading and writing shared by every stage: streaming, atomic, schema-checked.

Every path here is a local path or a location on any fsspec/pyarrow filesystem: a URI string
(`s3://bucket/x.parquet`) or a `upath.UPath` (how a workspace names data kept on a remote
filesystem, see `corpus.workspace`). Local paths are read and written exactly as with plain
pyarrow (atomic rename of a uniquely named temporary file); other filesystems get the same
temporary file moved into place (`fs.move`: a copy then a delete on an object store).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from corpus.errors import StageInputMissing
from corpus.fs import DataPath, data_path, is_remote, is_uri
from corpus.lock import temp_path

__all__ = [
    "DataPath",
    "data_path",
    "is_remote",
    "is_uri",
]  # re-exported: the io layer's path helpers


def filesystem(uri: str | os.PathLike) -> tuple[pafs.FileSystem, str]:
    """(pyarrow filesystem, path in it) for a local path, a URI (pyarrow's own filesystem,
    else fsspec's) or a UPath (its own fsspec filesystem, so one location is always reached
    through one client and its credentials)."""
    if is_remote(uri):
        return pafs.PyFileSystem(pafs.FSSpecHandler(uri.fs)), uri.path
    s = str(uri)
    if "://" not in s:
        return pafs.LocalFileSystem(), str(Path(s).absolute())
    try:
        return pafs.FileSystem.from_uri(s)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        import fsspec  # imported here: only URIs pyarrow does not know need it

        fs, path = fsspec.core.url_to_fs(s)
        return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


def _arrow(path: str | os.PathLike) -> tuple[str, dict]:
    """(source, keyword arguments) for pyarrow's readers: a local path is passed as is."""
    if not is_remote(path) and not is_uri(path):
        return str(path), {}
    fs, where = filesystem(path)
    return where, {"filesystem": fs}


def read_table(path: str | os.PathLike, **kwargs: Any) -> pa.Table:
    """`pq.read_table` on any filesystem."""
    source, fs = _arrow(path)
    return pq.read_table(source, **fs, **kwargs)


def read_schema(path: str | os.PathLike) -> pa.Schema:
    source, fs = _arrow(path)
    return pq.read_schema(source, **fs)


def parquet_file(path: str | os.PathLike, **kwargs: Any) -> pq.ParquetFile:
    """`pq.ParquetFile` on any filesystem."""
    source, fs = _arrow(path)
    return pq.ParquetFile(source, **fs, **kwargs)


def dataset(path: str | os.PathLike, **kwargs: Any):
    """`pyarrow.dataset.dataset` of one file on any filesystem."""
    import pyarrow.dataset as pads

    source, fs = _arrow(path)
    return pads.dataset(source, **fs, **kwargs)


class ParquetSink:
    """Writes batches incrementally to a unique hidden temporary file and renames it into place
    on success, on a local disk or any filesystem `filesystem` knows (a path or a URI).

    Memory stays flat however many rows pass through; an interrupted run leaves the previous
    file untouched, and two writers never share a temporary file.
    """

    def __init__(self, path: str | os.PathLike, schema: pa.Schema, compression: str = "zstd"):
        self.fs, self._where = filesystem(path)
        self.path = path if is_uri(path) else data_path(path)
        self.schema = schema
        self.tmp = temp_path(Path(self._where))
        self.fs.create_dir(str(self.tmp.parent), recursive=True)
        self._writer = pq.ParquetWriter(
            str(self.tmp), schema, filesystem=self.fs, compression=compression
        )
        self.rows = 0
        self._closed = False

    def write(self, table: pa.Table | pa.RecordBatch) -> None:
        if table.num_rows == 0:
            return
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        self._writer.write_table(table.cast(self.schema) if table.schema != self.schema else table)
        self.rows += table.num_rows

    def write_rows(self, rows: list[dict]) -> None:
        if rows:
            self.write(pa.Table.from_pylist(rows, schema=self.schema))

    def close(self) -> None:
        """Finish the file (a second call, e.g. from `with` after an early close, does nothing)."""
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        self.fs.move(str(self.tmp), self._where)  # a rename: atomic on a local disk

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        try:
            self.fs.delete_file(str(self.tmp))
        except OSError:
            pass

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def exists(path: str | os.PathLike) -> bool:
    return data_path(path).exists()


def require(path: DataPath, command: str) -> DataPath:
    """`path` if the stage that writes it has run, else a StageInputMissing naming `command`."""
    path = data_path(path)
    if not path.exists():
        raise StageInputMissing(str(path), command)
    return path


def iter_batches(
    path: DataPath, columns: list[str] | None = None, batch_size: int = 4096
) -> Iterator[pa.RecordBatch]:
    """Stream a Parquet file in record batches (empty iterator if the file does not exist)."""
    if not exists(path):
        return
    pf = parquet_file(path)
    yield from pf.iter_batches(batch_size=batch_size, columns=columns)


def count_rows(path: DataPath) -> int:
    return parquet_file(path).metadata.num_rows if exists(path) else 0


def write_table(path: DataPath, table: pa.Table, schema: pa.Schema) -> None:
    """Write a whole table atomically with `schema`."""
    with ParquetSink(path, schema) as sink:
        sink.write(table)


def read_column_set(path: DataPath, column: str) -> set:
    """All values of one column, e.g. the ids already written by an earlier run."""
    if not exists(path):
        return set()
    return set(read_table(path, columns=[column]).column(column).to_pylist())


def concat_batches(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_batches(list(batches), schema=schema)
