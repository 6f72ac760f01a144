"""Row count of a Parquet file from its footer, without importing pyarrow.

`corpus status` only needs row counts; importing pyarrow (and numpy) to read them costs more
than the rest of the command. A Parquet file ends with its metadata (Thrift compact protocol),
its length (4 bytes, little-endian) and `PAR1`; `num_rows` is field 3 of that FileMetaData
struct. Anything unexpected raises ValueError, and callers fall back to pyarrow.
"""

from __future__ import annotations

import struct
from pathlib import Path

MAGIC = b"PAR1"
MAX_FOOTER = 64 << 20  # a larger footer is not one we wrote: let pyarrow handle it


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise ValueError("truncated Parquet footer")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        out = shift = 0
        while True:
            b = self.byte()
            out |= (b & 0x7F) << shift
            if not b & 0x80:
                return out
            shift += 7
            if shift > 70:
                raise ValueError("bad varint in Parquet footer")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError("truncated Parquet footer")
        self.pos += n

    def skip_value(self, ctype: int, depth: int = 0) -> None:
        """Skip one value of compact type `ctype`."""
        if depth > 64:
            raise ValueError("Parquet footer nested too deeply")
        if ctype in (1, 2):  # bool inside a struct: the type is the value
            return
        if ctype == 3:
            self.skip(1)
        elif ctype in (4, 5, 6):
            self.varint()
        elif ctype == 7:
            self.skip(8)
        elif ctype == 8:
            self.skip(self.varint())
        elif ctype in (9, 10):
            head = self.byte()
            size, etype = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            for _ in range(size):
                if etype in (1, 2):
                    self.skip(1)  # a bool in a list takes a byte
                else:
                    self.skip_value(etype, depth + 1)
        elif ctype == 11:
            size = self.varint()
            if size:
                kv = self.byte()
                for _ in range(size):
                    self.skip_value(kv >> 4, depth + 1)
                    self.skip_value(kv & 0x0F, depth + 1)
        elif ctype == 12:
            self.struct_fields(lambda _fid, t: self.skip_value(t, depth + 1))
        else:
            raise ValueError(f"unknown Thrift type {ctype} in Parquet footer")

    def struct_fields(self, visit) -> None:
        fid = 0
        while True:
            head = self.byte()
            if head == 0:
                return
            delta, ctype = head >> 4, head & 0x0F
            fid = fid + delta if delta else self.zigzag()
            if visit(fid, ctype) is StopIteration:
                return


def parquet_num_rows(path: Path) -> int:
    """`num_rows` from the footer of the Parquet file at `path` (ValueError if unreadable)."""
    # A UPath (remote workspace data) opens through its own filesystem.
    with path.open("rb") if hasattr(path, "fs") else open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        if size < 12:
            raise ValueError("not a Parquet file (too short)")
        f.seek(size - 8)
        tail = f.read(8)
        (length,) = struct.unpack("<I", tail[:4])
        if tail[4:] != MAGIC or length > min(MAX_FOOTER, size - 12):
            raise ValueError("not a Parquet file (no footer)")
        f.seek(size - 8 - length)
        reader = _Reader(f.read(length))
    found: list[int] = []

    def visit(fid: int, ctype: int):
        if fid == 3 and ctype == 6:  # num_rows: i64
            found.append(reader.zigzag())
            return StopIteration
        reader.skip_value(ctype)
        return None

    reader.struct_fields(visit)
    if not found:
        raise ValueError("Parquet footer without num_rows")
    return found[0]
