"""Quarantine: bad rows are kept with their reason in data/quarantine/<stage>.parquet."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from corpus.io import write_table
from corpus.schemas import QUARANTINE
from corpus.types import QuarantinedRow

RAW_LIMIT = 10_000  # characters of the raw row kept; enough to find and fix it


class Quarantine:
    """Collects rejected rows for one stage; `flush` merges them with earlier runs' rows."""

    def __init__(self, directory: Path, stage: str):
        self.path = Path(directory) / f"{stage}.parquet"
        self.stage = stage
        self.rows: list[dict] = []

    def add(self, row: QuarantinedRow) -> None:
        self.rows.append(
            {
                "stage": self.stage,
                "source": row.source,
                "location": row.location,
                "reason": row.reason,
                "raw": row.raw[:RAW_LIMIT] if row.raw else row.raw,
            }
        )

    def __len__(self) -> int:
        return len(self.rows)

    def flush(self) -> Path | None:
        if not self.rows:
            return None
        new = pa.Table.from_pylist(self.rows, schema=QUARANTINE)
        if self.path.exists():
            old = pq.read_table(self.path, schema=QUARANTINE)
            seen = set(_keys(old))
            keep = [i for i, key in enumerate(_keys(new)) if key not in seen]
            new = pa.concat_tables([old, new.take(pa.array(keep, pa.int64()))])
        write_table(self.path, new, QUARANTINE)
        self.rows.clear()
        return self.path


def _keys(table: pa.Table) -> list[tuple]:
    """(source, location, reason) per row: the same bad row quarantined twice is kept once."""
    cols = [table.column(c).to_pylist() for c in ("source", "location", "reason")]
    return list(zip(*cols, strict=True))
