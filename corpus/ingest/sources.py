"""Readers for article sources. Each yields raw records with their location; a bad record is
yielded with an error (to be quarantined), never raised, so one bad row never stops a run.

Formats: JSONL, JSON array, CSV/TSV, Parquet, a folder of .txt files, a `datasets` folder saved
with `save_to_disk`; any file may be gzip-compressed (detected from its first bytes).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from corpus.errors import SourceError

FORMATS = ("jsonl", "json", "csv", "tsv", "parquet", "txt", "hf")
_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "txt",
}
RAW_PREVIEW = 2000


@dataclass(slots=True)
class RawRecord:
    """One record as read: `fields` when it parsed, else `error` saying why it did not."""

    location: str
    fields: dict[str, Any] | None
    error: str | None = None
    raw: str = ""


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _open_binary(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """(stream to read, underlying file whose position measures progress)."""
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    return (gzip.GzipFile(fileobj=raw) if _is_gzip(path) else raw), raw


def detect_format(path: Path) -> str:
    """The format of `path` from its name (ignoring .gz) or, failing that, its first bytes."""
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
            return "hf"
        return "txt"
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _EXTENSIONS:
        return _EXTENSIONS[suffixes[-1]]
    stream, raw = _open_binary(path)
    try:
        head = stream.read(4096)
    except OSError as e:
        raise SourceError(str(path), f"unreadable ({e})") from e
    finally:
        raw.close()
    if head[:4] == b"PAR1":
        return "parquet"
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if first == b"{":
        return "jsonl"
    if first == b"[":
        return "json"
    raise SourceError(
        str(path),
        "cannot tell its format from its name or content",
        f"Name it with one of {', '.join(sorted(_EXTENSIONS))} or pass --format ({', '.join(FORMATS)}).",
    )


class SourceReader:
    """Iterates the records of one source; `position`/`total` drive a progress bar (bytes)."""

    def __init__(self, path: Path, fmt: str | None = None):
        self.path = Path(path)
        if not self.path.exists():
            raise SourceError(str(path), "no such file or folder")
        self.format = fmt or detect_format(self.path)
        if self.format not in FORMATS:
            raise SourceError(
                str(path), f"unknown format {self.format!r}", f"Use one of {FORMATS}."
            )
        self.total = self._total()
        self.position = 0

    def _total(self) -> int:
        if self.path.is_dir():
            return sum(1 for _ in self._txt_files()) if self.format == "txt" else 0
        return self.path.stat().st_size

    def records(self) -> Iterator[RawRecord]:
        reader = {
            "jsonl": self._jsonl,
            "json": self._json,
            "csv": self._csv,
            "tsv": self._csv,
            "parquet": self._parquet,
            "txt": self._txt,
            "hf": self._hf,
        }[self.format]
        try:
            yield from reader()
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise SourceError(str(self.path), f"read failed ({e})") from e

    # JSON Lines: decode and parse line by line so one bad line is one quarantined record.
    def _jsonl(self) -> Iterator[RawRecord]:
        stream, raw = _open_binary(self.path)
        with raw, stream:
            for lineno, line in enumerate(stream, 1):
                if lineno % 256 == 0:
                    self.position = raw.tell()
                if not line.strip():
                    continue
                loc = f"line {lineno}"
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError as e:
                    yield RawRecord(
                        loc,
                        None,
                        f"undecodable bytes at byte {e.start} (not UTF-8)",
                        line[:RAW_PREVIEW].decode("utf-8", "replace"),
                    )
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as e:
                    yield RawRecord(loc, None, f"invalid JSON ({e.msg} at column {e.colno})", text)
                    continue
                if not isinstance(obj, dict):
                    yield RawRecord(
                        loc, None, f"expected a JSON object, got {type(obj).__name__}", text
                    )
                    continue
                yield RawRecord(loc, obj, raw=text)
            self.position = self.total

    # A JSON array, streamed item by item (ijson) so a large file never sits in memory.
    def _json(self) -> Iterator[RawRecord]:
        import ijson

        stream, raw = _open_binary(self.path)
        with raw, stream:
            n = 0
            try:
                for n, obj in enumerate(ijson.items(stream, "item", use_float=True), 1):
                    if n % 256 == 0:
                        self.position = raw.tell()
                    loc = f"item {n}"
                    if not isinstance(obj, dict):
                        yield RawRecord(
                            loc, None, f"expected a JSON object, got {type(obj).__name__}", str(obj)
                        )
                        continue
                    yield RawRecord(loc, obj, raw=json.dumps(obj, ensure_ascii=False))
            except (ijson.JSONError, UnicodeDecodeError) as e:
                # The rest of an array cannot be parsed past a syntax error: say so, keep what we had.
                yield RawRecord(
                    f"item {n + 1} onwards",
                    None,
                    f"invalid JSON after item {n} ({e}); the rest of the file was not read. "
                    "Fix the file (or convert it to JSONL, where one bad line loses only that line) "
                    "and ingest it again: rows already ingested are skipped",
                    "",
                )
            self.position = self.total

    # CSV/TSV: bytes that are not UTF-8 survive as surrogates, so the bad row can be named.
    def _csv(self) -> Iterator[RawRecord]:
        csv.field_size_limit(sys.maxsize)
        stream, raw = _open_binary(self.path)
        delimiter = "\t" if self.format == "tsv" else ","
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
        with raw, text:
            reader = csv.reader(text, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                return
            header = [h.lstrip("\ufeff").strip() for h in header]
            for rowno, row in enumerate(reader, 1):
                if rowno % 256 == 0:
                    self.position = raw.tell()
                if not any(c.strip() for c in row):
                    continue
                loc = f"row {rowno} (line {reader.line_num})"
                joined = delimiter.join(row)
                if any("\udc80" <= ch <= "\udcff" for cell in row for ch in cell):
                    yield RawRecord(
                        loc,
                        None,
                        "undecodable bytes (not UTF-8)",
                        joined.encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
                    )
                    continue
                if len(row) != len(header):
                    yield RawRecord(
                        loc,
                        None,
                        f"has {len(row)} fields, the header has {len(header)} "
                        "(an unquoted delimiter or newline?)",
                        joined,
                    )
                    continue
                yield RawRecord(loc, dict(zip(header, row, strict=True)), raw=joined)
            self.position = self.total

    def _parquet(self) -> Iterator[RawRecord]:
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(self.path)
        except Exception as e:  # pyarrow raises several types for a corrupt file
            raise SourceError(str(self.path), f"not a readable Parquet file ({e})") from e
        n = 0
        rows_total = max(pf.metadata.num_rows, 1)
        for batch in pf.iter_batches(batch_size=2048):
            for obj in batch.to_pylist():
                n += 1
                yield RawRecord(f"row {n}", obj, raw="")
            self.position = int(self.total * n / rows_total)

    def _txt_files(self) -> Iterator[Path]:
        if self.path.is_file():
            yield self.path
            return
        for p in sorted(self.path.rglob("*")):
            name = p.name.lower()
            if p.is_file() and (name.endswith(".txt") or name.endswith(".txt.gz")):
                yield p

    # A folder of .txt files: one article per file, its relative path as the id.
    def _txt(self) -> Iterator[RawRecord]:
        base = self.path if self.path.is_dir() else self.path.parent
        for i, p in enumerate(self._txt_files(), 1):
            rel = p.relative_to(base).as_posix()
            stream, raw = _open_binary(p)
            with raw, stream:
                data = stream.read()
            self.position = i if self.path.is_dir() else self.total
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as e:
                yield RawRecord(
                    f"file {rel}",
                    None,
                    f"undecodable bytes at byte {e.start} (not UTF-8)",
                    data[:RAW_PREVIEW].decode("utf-8", "replace"),
                )
                continue
            yield RawRecord(f"file {rel}", {"id": rel, "text": text}, raw="")

    # A Hugging Face `datasets` folder (Dataset or DatasetDict saved with save_to_disk).
    def _hf(self) -> Iterator[RawRecord]:
        from datasets import Dataset, DatasetDict, load_from_disk

        try:
            ds = load_from_disk(str(self.path))
        except Exception as e:  # datasets raises FileNotFoundError, ValueError, ...
            raise SourceError(str(self.path), f"not a datasets folder ({e})") from e
        splits = ds.items() if isinstance(ds, DatasetDict) else [("", ds)]
        self.total = sum(len(d) for _, d in splits) or 1
        done = 0
        for split, d in splits:
            assert isinstance(d, Dataset)
            for start in range(0, len(d), 1024):
                rows = d[start : start + 1024]
                keys = list(rows)
                for i in range(len(rows[keys[0]]) if keys else 0):
                    prefix = f"split {split} " if split else ""
                    yield RawRecord(f"{prefix}row {start + i + 1}", {k: rows[k][i] for k in keys})
                done += len(rows[keys[0]]) if keys else 0
                self.position = done
