"""Quarantine: bad rows are kept with their reason in data/quarantine/<stage>.parquet."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from corpus.io import data_path, read_table, write_table
from corpus.schemas import QUARANTINE
from corpus.types import QuarantinedRow

RAW_LIMIT = 10_000  # characters of the raw row kept; enough to find and fix it
RAW_BYTES_LIMIT = 1 << 20  # bytes of an undecodable row kept (a whole line or .txt file, mostly)


def printable(text: str) -> str:
    """`text` storable as UTF-8: a lone surrogate becomes its escape (\\ud800)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


class Quarantine:
    """Collects rejected rows for one stage; `flush` merges them with earlier runs' rows."""

    def __init__(self, directory: Path, stage: str):
        self.path = data_path(directory) / f"{stage}.parquet"
        self.stage = stage
        self.rows: list[dict] = []
        self.already: dict[str, int] = {}  # per source: rows the last flush found already kept

    def add(self, row: QuarantinedRow, raw_bytes: bytes | None = None) -> None:
        self.rows.append(
            {
                "stage": self.stage,
                "source": printable(row.source),
                "location": printable(row.location),
                "reason": printable(row.reason),
                "raw": printable(row.raw[:RAW_LIMIT]) if row.raw else row.raw,
                "raw_bytes": raw_bytes[:RAW_BYTES_LIMIT] if raw_bytes else raw_bytes,
            }
        )

    def __len__(self) -> int:
        return len(self.rows)

    def flush(self) -> Path | None:
        if not self.rows:
            return None
        new = pa.Table.from_pylist(self.rows, schema=QUARANTINE)
        self.already = {}
        if self.path.exists():
            old = read_table(self.path, schema=QUARANTINE)  # older files: raw_bytes null
            seen = set(_keys(old))
            keep = []
            for i, key in enumerate(_keys(new)):
                if key in seen:
                    self.already[key[0]] = self.already.get(key[0], 0) + 1
                else:
                    keep.append(i)
            new = pa.concat_tables([old, new.take(pa.array(keep, pa.int64()))])
        write_table(self.path, new, QUARANTINE)
        self.rows.clear()
        return self.path


def _keys(table: pa.Table) -> list[tuple]:
    """(source, location, reason, raw, raw_bytes) per row: the same bad row quarantined twice is
    kept once; another row at the same place (the file changed) is kept too."""
    cols = [
        table.column(c).to_pylist() for c in ("source", "location", "reason", "raw", "raw_bytes")
    ]
    return list(zip(*cols, strict=True))
