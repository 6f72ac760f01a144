"""Parquet reading and writing shared by every stage: streaming, atomic, schema-checked."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from corpus.errors import StageInputMissing
from corpus.lock import temp_path


def filesystem(uri: str | Path) -> tuple[pafs.FileSystem, str]:
    """(pyarrow filesystem, path in it) for a local path or a URI (pyarrow's own, else fsspec)."""
    s = str(uri)
    if "://" not in s:
        return pafs.LocalFileSystem(), str(Path(s).absolute())
    try:
        return pafs.FileSystem.from_uri(s)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        import fsspec  # imported here: only URIs pyarrow does not know need it

        fs, path = fsspec.core.url_to_fs(s)
        return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


class ParquetSink:
    """Writes batches incrementally to a unique hidden temporary file and renames it into place
    on success, on a local disk or any filesystem `filesystem` knows (a path or a URI).

    Memory stays flat however many rows pass through; an interrupted run leaves the previous
    file untouched, and two writers never share a temporary file.
    """

    def __init__(self, path: str | Path, schema: pa.Schema, compression: str = "zstd"):
        self.fs, self._where = filesystem(path)
        self.path = path if "://" in str(path) else Path(path)
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


def require(path: Path, command: str) -> Path:
    """`path` if the stage that writes it has run, else a StageInputMissing naming `command`."""
    if not Path(path).exists():
        raise StageInputMissing(str(path), command)
    return Path(path)


def iter_batches(
    path: Path, columns: list[str] | None = None, batch_size: int = 4096
) -> Iterator[pa.RecordBatch]:
    """Stream a Parquet file in record batches (empty iterator if the file does not exist)."""
    if not Path(path).exists():
        return
    pf = pq.ParquetFile(path)
    yield from pf.iter_batches(batch_size=batch_size, columns=columns)


def count_rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows if Path(path).exists() else 0


def write_table(path: Path, table: pa.Table, schema: pa.Schema) -> None:
    """Write a whole table atomically with `schema`."""
    with ParquetSink(path, schema) as sink:
        sink.write(table)


def read_column_set(path: Path, column: str) -> set:
    """All values of one column, e.g. the ids already written by an earlier run."""
    if not Path(path).exists():
        return set()
    return set(pq.read_table(path, columns=[column]).column(column).to_pylist())


def concat_batches(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_batches(list(batches), schema=schema)
