"""The stored near-duplicate index: `data/minhash/`, one Parquet part per ingest.

A part holds one ingest's new articles in ingest order: `article_id`, `dup_group`, `signature`
and one uint64 LSH band hash per band (`b0`, `b1`, ...), with the band split in its schema
metadata. An ingest appends one part and writes nothing else; a later ingest reads the earlier
band hashes column by column (8 bytes a row a band) and earlier signatures only in the row groups
that hold its candidates. Rows are numbered across the parts in order, which is ingest order.

A workspace from before the parts has a single `data/minhash.parquet` (`article_id`,
`dup_group`, `signature`): it is read as the first part (band hashes computed from its
signatures) and migrated into `part-000000` by the next save, then removed.

Paths are local or remote (`corpus.fs.data_path`: a UPath on s3://...), read and written
through `corpus.io`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from corpus.ingest.minhash import NUM_PERM, SIGNATURE, band_hashes, signature_matrix
from corpus.io import DataPath, ParquetSink, data_path, exists, filesystem, parquet_file

ROW_GROUP = 4096  # rows a row group of a part (1 MB of signatures): the unit of fetching
LSH_KEY = b"corpus.lsh"  # schema metadata: "BANDSxROWS", the split the band columns were cut by
MIGRATED_KEY = b"corpus.migrated"  # set on part-000000 when it replaced data/minhash.parquet
_PART = re.compile(r"part-(\d{6})\.parquet$")

LEGACY_SCHEMA = pa.schema(
    [
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("dup_group", pa.string(), nullable=False),
        pa.field("signature", SIGNATURE, nullable=False),
    ]
)


def band_names(bands: int) -> list[str]:
    return [f"b{k}" for k in range(bands)]


def part_schema(bands: int, rows: int, *, with_group: bool = True) -> pa.Schema:
    """A part's columns; without `dup_group` it is the staging file of an ingest's new rows."""
    fields = [pa.field("article_id", pa.string(), nullable=False)]
    if with_group:
        fields.append(pa.field("dup_group", pa.string(), nullable=False))
    fields.append(pa.field("signature", SIGNATURE, nullable=False))
    fields += [pa.field(b, pa.uint64(), nullable=False) for b in band_names(bands)]
    return pa.schema(fields, metadata={LSH_KEY: f"{bands}x{rows}".encode()})


def compression(schema: pa.Schema) -> dict[str, str]:
    # Ids compress well; signatures and hashes are random bytes, where compression only costs.
    return {n: "zstd" if n in ("article_id", "dup_group") else "none" for n in schema.names}


@dataclass
class Source:
    """One Parquet file of signature rows: a stored part, the legacy file, or this ingest's
    staged new rows. `first` is the row number of its first row across all sources."""

    path: DataPath
    first: int
    rows: int
    group_starts: np.ndarray  # first local row of each row group, then `rows`
    has_bands: bool  # band columns cut by the current split
    is_new: bool
    bands_path: DataPath | None = None  # band hashes computed from the signatures

    def open(self, bands: bool = False) -> pq.ParquetFile:
        """The file (with `bands`, the one holding its band hashes)."""
        path = self.path if self.has_bands or not bands else self.bands_path
        # No pre-buffering: it would read ahead the whole file, not just the wanted row groups.
        return parquet_file(path, pre_buffer=False)


def open_source(path: DataPath, first: int, lsh: bytes, *, is_new: bool = False) -> Source:
    meta = parquet_file(path).metadata
    sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
    starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
    stored = (meta.schema.to_arrow_schema().metadata or {}).get(LSH_KEY)
    return Source(path, first, meta.num_rows, starts, stored == lsh, is_new)


@dataclass
class Stats:
    """What the global step did; `peak_signature_rows` is the most signature rows held at once,
    `signatures_fetched` the signature rows read (whole row groups)."""

    rows: int = 0
    candidates: int = 0
    sketch_passed: int = 0
    confirmed: int = 0
    signatures_fetched: int = 0
    peak_signature_rows: int = 0

    def held(self, n: int) -> None:
        self.peak_signature_rows = max(self.peak_signature_rows, n)


@dataclass
class Rows:
    """Row-number access across sources (earlier parts in order, then the new rows), reading only
    the row groups that hold wanted rows, one row group in memory at a time."""

    sources: list[Source]
    stats: Stats = field(default_factory=Stats)

    @property
    def total(self) -> int:
        return sum(s.rows for s in self.sources)

    def _visit(self, rows: np.ndarray, columns: list[str], fn: Callable) -> None:
        """Call `fn(source, table, local_indices, slot)` for each row group holding some of
        `rows` (sorted row numbers); `slot` is the range of `rows` it holds."""
        for src in self.sources:
            lo, hi = np.searchsorted(rows, [src.first, src.first + src.rows])
            if hi == lo:
                continue
            local = rows[lo:hi] - src.first
            pf = src.open()
            cols = [c for c in columns if c != "dup_group" or not src.is_new]
            bounds = np.searchsorted(local, src.group_starts)
            for g in np.flatnonzero(bounds[1:] > bounds[:-1]):
                table = pf.read_row_group(int(g), columns=cols, use_threads=False)
                a, b = bounds[g], bounds[g + 1]
                fn(src, table, pa.array(local[a:b] - src.group_starts[g]), slice(lo + a, lo + b))

    def signatures(self, rows: np.ndarray) -> np.ndarray:
        """The signatures of the given sorted row numbers, as an (n, NUM_PERM) matrix."""
        sigs = np.empty((len(rows), NUM_PERM), np.uint32)

        def keep(src, table, local, slot):
            self.stats.held(len(rows) + table.num_rows)
            self.stats.signatures_fetched += table.num_rows
            sigs[slot] = signature_matrix(table.column("signature").take(local))

        self._visit(rows, ["signature"], keep)
        return sigs

    def members(self, rows: np.ndarray) -> tuple[list[str], list[str | None]]:
        """Ids and earlier groups (None for a new row) of the given sorted row numbers."""
        ids: list[str] = []
        groups: list[str | None] = []

        def keep(src, table, local, slot):
            ids.extend(table.column("article_id").take(local).to_pylist())
            if src.is_new:
                groups.extend([None] * len(local))
            else:
                groups.extend(table.column("dup_group").take(local).to_pylist())

        self._visit(rows, ["article_id", "dup_group"], keep)
        return ids, groups

    def band_column(self, k: int, new: bool) -> np.ndarray:
        """Band `k`'s hash of every earlier row (new=False) or every new row, in row order."""
        parts = [np.zeros(0, np.uint64)]
        for src in self.sources:
            if src.is_new != new:
                continue
            pf = src.open(bands=True)
            parts.append(pf.read([f"b{k}"], use_threads=False).column(0).to_numpy())
        return np.concatenate(parts)


class SignatureStore:
    """The parts folder (`root`, e.g. data/minhash) and the legacy file beside it
    (`root` + ".parquet")."""

    def __init__(self, root: str | DataPath, bands: int, rows: int):
        self.root = data_path(root)
        self.legacy = self.root.parent / f"{self.root.name}.parquet"
        self.fs, self._root = filesystem(self.root)
        self.bands, self.rows = bands, rows
        self.lsh = f"{bands}x{rows}".encode()

    def _parts(self) -> list[tuple[int, DataPath]]:
        infos = self.fs.get_file_info(pafs.FileSelector(self._root, allow_not_found=True))
        found = [(_PART.fullmatch(i.base_name), i.base_name) for i in infos]
        return sorted((int(m.group(1)), self.root / name) for m, name in found if m)

    def _legacy_in_use(self, parts: list[tuple[int, DataPath]]) -> bool:
        """The old single file, unless part-000000 already holds it (a migration that stopped
        before removing it)."""
        if not exists(self.legacy):
            return False
        if parts and parts[0][0] == 0:
            meta = parquet_file(parts[0][1]).schema_arrow.metadata or {}
            return MIGRATED_KEY not in meta
        return True

    def sources(self) -> list[Source]:
        """Every stored file in row order: the legacy file (if not yet migrated), then parts."""
        parts = self._parts()
        paths = ([self.legacy] if self._legacy_in_use(parts) else []) + [p for _, p in parts]
        out, first = [], 0
        for path in paths:
            src = open_source(path, first, self.lsh)
            out.append(src)
            first += src.rows
        return out

    def compute_missing_bands(self, sources: list[Source], workdir: Path) -> None:
        """Band hashes, into `workdir`, of the stored files that have none (the legacy file) or
        were cut by another split (the threshold changed): read once, not once per band."""
        names = band_names(self.bands)
        schema = pa.schema([(b, pa.uint64()) for b in names])
        for i, src in enumerate(sources):
            if src.has_bands or src.bands_path:
                continue
            path = workdir / f"bands-{i}.parquet"
            pf = src.open()
            with ParquetSink(path, schema, compression="none") as sink:
                for g in range(pf.num_row_groups):
                    sigs = signature_matrix(pf.read_row_group(g, ["signature"]).column(0))
                    h = band_hashes(sigs, self.bands, self.rows)
                    sink.write(pa.table([h[:, k] for k in range(self.bands)], schema=schema))
            src.bands_path = path

    def append(self, tables: Iterable[pa.Table]) -> None:
        """Write one new part from `tables` (the part's columns, in row order), after migrating
        the legacy file when it is still in use. Only new rows are written."""
        parts = self._parts()
        if self._legacy_in_use(parts):
            self._write(0, self._migrated(open_source(self.legacy, 0, b"")), migrated=True)
            parts = self._parts()
        if parts and parts[0][0] == 0 and exists(self.legacy):
            fs, path = filesystem(self.legacy)
            fs.delete_file(path)
        self._write((parts[-1][0] if parts else 0) + 1, tables)

    def _migrated(self, legacy: Source) -> Iterator[pa.Table]:
        """The legacy file's rows with their band hashes (hashed again: once, at migration)."""
        pf = legacy.open()
        for g in range(pf.num_row_groups):
            table = pf.read_row_group(g, columns=LEGACY_SCHEMA.names, use_threads=False)
            h = band_hashes(signature_matrix(table.column("signature")), self.bands, self.rows)
            for k, name in enumerate(band_names(self.bands)):
                table = table.append_column(name, pa.array(h[:, k], pa.uint64()))
            yield table

    def _write(self, seq: int, tables: Iterable[pa.Table], migrated: bool = False) -> None:
        schema = part_schema(self.bands, self.rows)
        if migrated:
            schema = schema.with_metadata({**schema.metadata, MIGRATED_KEY: b"minhash.parquet"})
        self.fs.create_dir(self._root, recursive=True)
        path = self.root / f"part-{seq:06d}.parquet"
        with ParquetSink(path, schema, compression=compression(schema)) as sink:
            # Row groups of exactly ROW_GROUP rows, whatever the batches ingest staged.
            pending = pa.table({n: [] for n in schema.names}).cast(schema)
            for table in tables:
                pending = pa.concat_tables([pending, table.cast(schema)])
                while pending.num_rows >= ROW_GROUP:
                    sink.write(pending.slice(0, ROW_GROUP))
                    pending = pending.slice(ROW_GROUP)
            sink.write(pending)

    def iter_batches(self, columns: list[str], batch_rows: int = 65536) -> Iterator[pa.RecordBatch]:
        """Stored rows in row order (e.g. every article's group, for a check or a report)."""
        for src in self.sources():
            yield from src.open().iter_batches(batch_rows, columns=columns, use_threads=False)
