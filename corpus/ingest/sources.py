"""Readers for article sources. Each yields raw records with their location; a bad record is
yielded with an error (to be quarantined), never raised, so one bad row never stops a run.

Formats: JSONL, JSON array, CSV/TSV, Parquet, a folder of .txt files, a `datasets` folder saved
with `save_to_disk`; any file may be gzip-compressed (detected from its first bytes). Text files
may be in any encoding: a byte-order mark, UTF-16 (by its NUL bytes) and legacy code pages such as
windows-1256 (charset-normalizer) are detected, or `--encoding` says which.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import re
import sys
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from corpus.errors import CorpusError, SourceError

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
SNIFF_BYTES = 1 << 20  # what encoding detection looks at: the first MiB (decompressed)


@dataclass(slots=True)
class RawRecord:
    """One record as read: `fields` when it parsed, else `error` saying why it did not.
    `raw_bytes` holds the exact bytes of a row that could not be decoded."""

    location: str
    fields: dict[str, Any] | None
    error: str | None = None
    raw: str = ""
    raw_bytes: bytes | None = None


@dataclass(frozen=True, slots=True)
class Encoding:
    """How a file's bytes become text: `codec` decodes one line (no BOM), `unit` is the code
    unit size that line splitting must respect, `bom` the bytes skipped at the start."""

    codec: str
    unit: int = 1
    bom: bytes = b""

    @property
    def name(self) -> str:
        """The name shown to users (and accepted back by --encoding)."""
        if self.codec == "utf-8" and self.bom:
            return "utf-8-sig"
        return _DISPLAY.get(self.codec, self.codec)

    @property
    def newline(self) -> bytes:
        return "\n".encode(self.codec)


_DISPLAY = {f"cp{n}": f"windows-{n}" for n in range(1250, 1259)}
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _unit(codec: str) -> int:
    return 4 if codec.startswith("utf-32") else 2 if codec.startswith("utf-16") else 1


def resolve_encoding(name: str, head: bytes) -> Encoding:
    """The Encoding for `--encoding NAME` (or "auto": detected from `head`, the file's start)."""
    if name.strip().lower() == "auto":
        return detect_encoding(head)
    try:
        codec = codecs.lookup(name).name.replace("_", "-")
    except LookupError:
        raise CorpusError(
            f"unknown encoding {name!r}",
            "Use auto (the default) or a Python codec name such as utf-8, utf-16, windows-1256.",
        ) from None
    codec = {"utf-8-sig": "utf-8", "utf-16": "utf-16", "utf-32": "utf-32"}.get(codec, codec)
    for bom, bom_codec in _BOMS:
        # A BOM of the named encoding's family says the byte order and is not text.
        if head.startswith(bom) and bom_codec.startswith(codec):
            return Encoding(bom_codec, _unit(bom_codec), bom)
    if codec in ("utf-16", "utf-32"):
        codec += "-le"  # no BOM: little-endian, as Windows writes it
    return Encoding(codec, _unit(codec))


def detect_encoding(head: bytes) -> Encoding:
    """The encoding of a file starting with `head`: a BOM if any; UTF-16 when one byte of each
    pair is mostly NUL; UTF-8 when (almost every line of) it decodes; else charset-normalizer's
    best guess (windows-1256 for legacy Arabic)."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return Encoding(codec, _unit(codec), bom)
    utf16 = _utf16_without_bom(head)
    if utf16:
        return utf16
    if _mostly_utf8(head):
        return Encoding("utf-8")
    from charset_normalizer import from_bytes

    best = from_bytes(head).best()
    if best is None:
        return Encoding("utf-8")
    codec = codecs.lookup(best.encoding).name.replace("_", "-")
    return Encoding(codec, _unit(codec))


def _utf16_without_bom(head: bytes) -> Encoding | None:
    n = len(head) // 2
    if n < 2 or b"\x00" not in head:
        return None
    even, odd = head[0 : 2 * n : 2].count(0), head[1 : 2 * n : 2].count(0)
    # Spaces, digits, punctuation and newlines put a NUL in one byte of each pair; UTF-8 and
    # legacy code pages have next to none.
    if odd >= 0.1 * n and even <= 0.01 * n:
        codec = "utf-16-le"
    elif even >= 0.1 * n and odd <= 0.01 * n:
        codec = "utf-16-be"
    else:
        return None
    try:
        codecs.getincrementaldecoder(codec)().decode(head[: 2 * n], final=False)
    except UnicodeDecodeError:
        return None
    return Encoding(codec, 2)


def _mostly_utf8(head: bytes) -> bool:
    """True when the non-ASCII lines of `head` are mostly valid UTF-8: a few bad lines in a UTF-8
    file are bad rows (quarantined), not a sign of another encoding."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return True
    except UnicodeDecodeError:
        pass
    lines = head.split(b"\n")
    if len(head) >= SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # may be cut mid-character
    non_ascii = bad = 0
    for line in lines:
        if line.isascii():
            continue
        non_ascii += 1
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad += 1
    return bad * 2 <= non_ascii


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _open_binary(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """(stream to read, underlying file whose position measures progress)."""
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    return (gzip.GzipFile(fileobj=raw) if _is_gzip(path) else raw), raw


def _head(path: Path, size: int = SNIFF_BYTES) -> bytes:
    stream, raw = _open_binary(path)
    try:
        return stream.read(size)
    except (OSError, EOFError) as e:
        raise SourceError(str(path), f"unreadable ({e})") from e
    finally:
        raw.close()


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
    head = _head(path, 4096)
    if head[:4] == b"PAR1":
        return "parquet"
    enc = detect_encoding(head)
    text = codecs.getincrementaldecoder(enc.codec)(errors="replace").decode(head[len(enc.bom) :])
    first = text.lstrip("\ufeff \t\r\n")[:1]
    if first == "{":
        return "jsonl"
    if first == "[":
        return "json"
    raise SourceError(
        str(path),
        "cannot tell its format from its name or content",
        f"Name it with one of {', '.join(sorted(_EXTENSIONS))} or pass --format ({', '.join(FORMATS)}).",
    )


def _split_lines(stream: BinaryIO, enc: Encoding) -> Iterator[bytes]:
    """The lines of `stream` as bytes, each with its newline, split on code-unit boundaries (a
    UTF-16 "\\n" is two bytes, and 0x0A can be half of another character)."""
    stream.read(len(enc.bom))
    if enc.unit == 1:
        yield from stream
        return
    nl, unit, buf = enc.newline, enc.unit, b""
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            break
        buf += chunk
        start = pos = 0
        while (i := buf.find(nl, pos)) >= 0:
            if (i - start) % unit:  # not on a code-unit boundary: part of another character
                pos = i + 1
                continue
            yield buf[start : i + unit]
            start = pos = i + unit
        buf = buf[start:]
    if buf:
        yield buf


def _undecodable(enc: Encoding, e: UnicodeDecodeError) -> str:
    return (
        f"undecodable bytes at byte {e.start} (not {enc.name}); the exact bytes are kept in "
        "raw_bytes. If the file is in another encoding, pass --encoding (e.g. windows-1256)"
    )


def _strip_newline(data: bytes, enc: Encoding) -> bytes:
    if data.endswith(enc.newline):
        data = data[: -len(enc.newline)]
        if data.endswith("\r".encode(enc.codec)):
            data = data[: -enc.unit]
    return data


def _preview(data: bytes, enc: Encoding) -> str:
    """Readable text of undecodable bytes: bad bytes as \\xNN escapes, never U+FFFD."""
    return data[:RAW_PREVIEW].decode(enc.codec, "backslashreplace")


# A lone surrogate escape (\ud800 not followed by a low half, or a low half on its own).
_LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


class _Utf8Stream:
    """A file-like `read` giving the UTF-8 of another encoding's bytes (for ijson)."""

    def __init__(self, stream: BinaryIO, enc: Encoding):
        stream.read(len(enc.bom))
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder(enc.codec)()

    def read(self, n: int = -1) -> bytes:
        if n == 0:  # ijson probes the stream's type with read(0)
            return b""
        while True:
            chunk = self.stream.read(n if n > 0 else 1 << 20)
            text = self.decoder.decode(chunk, final=not chunk)
            if text or not chunk:
                return text.encode("utf-8", "surrogatepass")


class _Feed:
    """Lines for csv.reader: pushed-back lines first, then the source; remembers what the
    current record consumed so a bad record can be cut out and the rest parsed again."""

    def __init__(self, source: Iterator[_Line]):
        self.source = source
        self.pending: deque[_Line] = deque()
        self.consumed: list[_Line] = []

    def pull(self) -> _Line | None:
        if self.pending:
            return self.pending.popleft()
        return next(self.source, None)

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        line = self.pull()
        if line is None:
            raise StopIteration
        self.consumed.append(line)
        return line.text


@dataclass(slots=True)
class _Line:
    number: int
    data: bytes
    text: str
    decoded: bool


def bad_record_lines(
    lines: list[_Line], more: Callable[[], _Line | None], delim: str, width: int
) -> int:
    """How many of `lines` (consumed by a record that csv rejected) make up the bad record.

    A quoted field may span lines, so one stray quote could swallow the rest of the file. The
    record is scanned by hand: a quote inside a quoted field followed by anything but a quote,
    the delimiter or the line end is an error; when it opens a field on a later line (at the
    line start or after a delimiter) it is the next record's opening quote, so the bad record
    ends before that line (an unterminated quote). Any other stray quote is taken as text up to
    the quote that closes the field. A quote still open at the end of the file: the lines after
    it that are each a well-formed record of `width` fields (to the end) are taken as records,
    the rest as the bad record."""
    state = "start"
    i = 0
    while True:
        if i == len(lines):
            nxt = more()
            if nxt is None:
                j = len(lines)
                while j > 1 and _one_record(lines[j - 1].text, delim, width):
                    j -= 1
                return j
            lines.append(nxt)
        body = lines[i].text.rstrip("\r\n")
        p = 0
        while p < len(body):
            c = body[p]
            if state == "quoted":
                if c == '"':
                    after = body[p + 1] if p + 1 < len(body) else "\n"
                    if after == '"':
                        p += 1
                    elif after == delim:
                        state = "start"
                        p += 1
                    elif after == "\n":
                        return i + 1
                    elif i >= 1 and (p == 0 or body[p - 1] == delim):
                        return i
            elif c == delim:
                state = "start"
            elif state == "start":
                state = "quoted" if c == '"' else "plain"
            p += 1
        if state != "quoted":
            return i + 1
        i += 1


def _one_record(text: str, delim: str, width: int) -> bool:
    try:
        rows = list(csv.reader([text], delimiter=delim, strict=True))
    except csv.Error:
        return False
    return not rows or len(rows) == 1 and (len(rows[0]) == width or not any(rows[0]))


class SourceReader:
    """Iterates the records of one source; `position`/`total` drive a progress bar (bytes).

    `encoding` is the encoding used (detected unless given), `skipped` the files of a folder
    that were not read (not .txt)."""

    def __init__(self, path: Path, fmt: str | None = None, encoding: str = "auto"):
        self.path = Path(path)
        if not self.path.exists():
            raise SourceError(str(path), "no such file or folder")
        self.format = fmt or detect_format(self.path)
        if self.format not in FORMATS:
            raise SourceError(
                str(path), f"unknown format {self.format!r}", f"Use one of {FORMATS}."
            )
        self.requested_encoding = encoding or "auto"
        resolve_encoding(self.requested_encoding, b"")  # an unknown name fails before any work
        self.encodings: Counter[str] = Counter()
        self.skipped: list[str] = []
        self.total = self._total()
        self.position = 0
        # Detected up front: an unreadable (e.g. truncated gzip) file fails before any work.
        self._file_encoding = (
            resolve_encoding(self.requested_encoding, _head(self.path))
            if self.format in ("jsonl", "json", "csv", "tsv")
            else None
        )
        if self.format in ("csv", "tsv"):
            self._csv_header()  # a file without a usable header fails before anything is written

    def _csv_header(self) -> list[str] | None:
        enc = self._file_encoding or Encoding("utf-8")
        stream, raw = _open_binary(self.path)
        with raw, stream:
            delimiter = "\t" if self.format == "tsv" else ","
            lines = (line.text for line in self._lines(enc, stream))
            reader = csv.reader(lines, delimiter=delimiter, strict=True)
            try:
                return next(reader, None)
            except csv.Error as e:
                raise SourceError(
                    str(self.path),
                    f"the CSV header line cannot be parsed ({e})",
                    "Fix the quotes of the first line (the column names).",
                ) from e

    @property
    def encoding(self) -> str:
        """The encoding(s) used, most common first ("" for Parquet and datasets)."""
        return ", ".join(name for name, _ in self.encodings.most_common())

    def _encoding_of(self, path: Path) -> Encoding:
        if path == self.path and self._file_encoding:
            enc = self._file_encoding
        else:
            enc = resolve_encoding(self.requested_encoding, _head(path))
        self.encodings[enc.name] += 1
        return enc

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
        enc = self._encoding_of(self.path)
        stream, raw = _open_binary(self.path)
        with raw, stream:
            for lineno, line in enumerate(_split_lines(stream, enc), 1):
                if lineno % 256 == 0:
                    self.position = raw.tell()
                loc = f"line {lineno}"
                try:
                    text = line.decode(enc.codec)
                except UnicodeDecodeError as e:
                    data = _strip_newline(line, enc)
                    yield RawRecord(loc, None, _undecodable(enc, e), _preview(data, enc), data)
                    continue
                if not text.strip():
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

        enc = self._encoding_of(self.path)
        # ijson's C backend turns an escaped lone surrogate into "?" without a word; the pure
        # Python one keeps it (to be quarantined), so it reads the rare file that has one.
        backend = ijson.get_backend("python") if self._has_lone_surrogate(enc) else ijson
        stream, raw = _open_binary(self.path)
        with raw, stream:
            source: Any = stream
            if enc.codec == "utf-8":
                stream.read(len(enc.bom))
            else:
                source = _Utf8Stream(stream, enc)
            n = 0
            try:
                for n, obj in enumerate(backend.items(source, "item", use_float=True), 1):
                    if n % 256 == 0:
                        self.position = raw.tell()
                    loc = f"item {n}"
                    if not isinstance(obj, dict):
                        yield RawRecord(
                            loc, None, f"expected a JSON object, got {type(obj).__name__}", str(obj)
                        )
                        continue
                    yield RawRecord(loc, obj, raw=json.dumps(obj, ensure_ascii=False))
            # The pure-Python backend reports some syntax errors as json's own JSONDecodeError.
            except (ijson.JSONError, json.JSONDecodeError, UnicodeDecodeError) as e:
                hint = (
                    f" (read as {enc.name}: if that is wrong, pass --encoding)"
                    if isinstance(e, UnicodeDecodeError)
                    else ""
                )
                # The rest of an array cannot be parsed past a syntax error: say so, keep what we had.
                yield RawRecord(
                    f"item {n + 1} onwards",
                    None,
                    f"invalid JSON after item {n} ({e}){hint}; the rest of the file was not read. "
                    "Fix the file (or convert it to JSONL, where one bad line loses only that line) "
                    "and ingest it again: rows already ingested are skipped",
                    "",
                )
            self.position = self.total

    def _has_lone_surrogate(self, enc: Encoding) -> bool:
        stream, raw = _open_binary(self.path)
        with raw, stream:
            source = stream if enc.codec == "utf-8" else _Utf8Stream(stream, enc)
            tail = b""
            try:
                while chunk := source.read(1 << 20):
                    if _LONE_SURROGATE.search(tail + chunk):
                        return True
                    tail = chunk[-16:]
            except UnicodeDecodeError:
                return False  # reported by the parse itself
        return False

    def _lines(self, enc: Encoding, stream: BinaryIO) -> Iterator[_Line]:
        for number, data in enumerate(_split_lines(stream, enc), 1):
            try:
                yield _Line(number, data, data.decode(enc.codec), True)
            except UnicodeDecodeError:
                # Parsed for its record boundaries only; the record is quarantined as bytes.
                yield _Line(number, data, data.decode(enc.codec, "replace"), False)

    # CSV/TSV, parsed strictly; a record with a quoting error is cut out by `bad_record_lines`.
    def _csv(self) -> Iterator[RawRecord]:
        csv.field_size_limit(sys.maxsize)
        enc = self._encoding_of(self.path)
        stream, raw = _open_binary(self.path)
        delimiter = "\t" if self.format == "tsv" else ","
        with raw, stream:
            feed = _Feed(self._lines(enc, stream))
            reader = csv.reader(feed, delimiter=delimiter, strict=True)
            try:
                header = next(reader, None)
            except csv.Error as e:
                raise SourceError(str(self.path), f"the header line cannot be parsed ({e})") from e
            if header is None:
                return
            header = [h.lstrip("\ufeff").strip() for h in header]
            rowno = 0
            while True:
                feed.consumed = []
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as e:
                    lines = feed.consumed
                    n = bad_record_lines(lines, feed.pull, delimiter, len(header))
                    feed.pending.extendleft(reversed(lines[n:]))
                    rowno += 1
                    yield self._bad_csv_record(
                        rowno,
                        lines[:n],
                        enc,
                        f"CSV quoting error ({e}): an unterminated or stray quote, most likely; "
                        "fix the row and ingest the file again (rows already ingested are skipped)",
                    )
                    continue
                if not row or not any(c.strip() for c in row):
                    continue
                rowno += 1
                lines = feed.consumed
                if rowno % 256 == 0:
                    self.position = raw.tell()
                if not all(line.decoded for line in lines):
                    yield self._bad_csv_record(rowno, lines, enc, None)
                    continue
                loc = _csv_location(rowno, lines)
                # The record as written (quotes and all), so a quarantined one can be fixed.
                joined = "".join(line.text for line in lines).rstrip("\r\n")
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

    def _bad_csv_record(
        self, rowno: int, lines: list[_Line], enc: Encoding, reason: str | None
    ) -> RawRecord:
        data = _strip_newline(b"".join(line.data for line in lines), enc)
        loc = _csv_location(rowno, lines)
        try:
            text = data.decode(enc.codec)
        except UnicodeDecodeError as e:
            return RawRecord(loc, None, _undecodable(enc, e), _preview(data, enc), data)
        return RawRecord(loc, None, reason or "unreadable row", text)

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
        skipped = []
        for p in sorted(self.path.rglob("*")):
            name = p.name.lower()
            if p.is_file() and (name.endswith(".txt") or name.endswith(".txt.gz")):
                yield p
            elif p.is_file():
                skipped.append(p.relative_to(self.path).as_posix())
        self.skipped = skipped

    # A folder of .txt files: one article per file, its relative path as the id.
    def _txt(self) -> Iterator[RawRecord]:
        base = self.path if self.path.is_dir() else self.path.parent
        for i, p in enumerate(self._txt_files(), 1):
            rel = p.relative_to(base).as_posix()
            enc = self._encoding_of(p)
            stream, raw = _open_binary(p)
            with raw, stream:
                data = stream.read()
            self.position = i if self.path.is_dir() else self.total
            data = data[len(enc.bom) :]
            try:
                text = data.decode(enc.codec)
            except UnicodeDecodeError as e:
                yield RawRecord(
                    f"file {rel}", None, _undecodable(enc, e), _preview(data, enc), data
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


def _csv_location(rowno: int, lines: list[_Line]) -> str:
    first, last = lines[0].number, lines[-1].number  # the header is line 1
    return f"row {rowno} (line {first})" if first == last else f"row {rowno} (lines {first}-{last})"
