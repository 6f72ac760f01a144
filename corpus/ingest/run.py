"""Ingest: raw records → clean, deduplicated `data/articles.parquet`, bad rows quarantined.

The flow per source: read records → map fields → `clean_batch` (pure, per-article core
`clean_article`) → exact-duplicate check → near-duplicate grouping (the one global step) → write.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from corpus.ids import content_id
from corpus.ingest.dedup import NearDuplicateIndex
from corpus.ingest.minhash import SIGNATURE, signature, signature_batch
from corpus.ingest.sources import RawRecord, SourceReader
from corpus.io import ParquetSink, iter_batches
from corpus.licenses import check_license
from corpus.quarantine import Quarantine, printable
from corpus.runner import Engine, Stage, map_tables
from corpus.schemas import ARTICLES
from corpus.text import arabic_ratio, canonicalize
from corpus.types import QuarantinedRow, StageCounts
from corpus.workspace import Workspace

# Field names tried, in order, when no mapping option is given.
FIELD_CANDIDATES: dict[str, tuple[str, ...]] = {
    "text": ("text", "content", "body", "article", "article_text", "full_text", "maintext", "story"),
    "id": ("id", "article_id", "doc_id", "docid", "guid", "uuid", "_id", "source_id"),
    "title": ("title", "headline", "heading", "subject"),
    "url": ("url", "link", "source_url", "href", "permalink"),
    "published_at": (
        "published_at", "date", "published", "pub_date", "publish_date", "datetime",
        "date_publish", "created_at", "timestamp", "time",
    ),
}  # fmt: skip
BATCH_ROWS = 1000

# The columns `clean_batch` takes in: one raw article per row, fields already mapped.
RAW_BATCH = pa.schema(
    [
        ("source", pa.string()),
        ("location", pa.string()),
        ("source_id", pa.string()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("url", pa.string()),
        ("published_at", pa.string()),
        ("raw", pa.string()),
        ("license", pa.string()),
        ("reject_reason", pa.string()),  # already known when mapping (e.g. a non-string text)
    ]
)
# What it gives back: article columns (but dup_group) plus the reason a row was rejected.
CLEAN_BATCH = pa.schema(
    [f for f in ARTICLES if f.name != "dup_group"]
    + [pa.field("location", pa.string()), pa.field("raw", pa.string()),
       pa.field("reject_reason", pa.string())]
)  # fmt: skip


@dataclass
class IngestOptions:
    """Field mapping and limits; unset fields are detected from the first record."""

    text_field: str | None = None
    id_field: str | None = None
    title_field: str | None = None
    url_field: str | None = None
    date_field: str | None = None
    format: str | None = None
    source_name: str | None = None
    encoding: str = "auto"  # or a codec name: the encoding of every text source in the run
    license: str | None = None  # SPDX id of every source in the run (else corpus.toml [sources])
    min_arabic_ratio: float = 0.5
    min_chars: int = 20
    max_chars: int = 200_000
    near_duplicate_threshold: float = 0.7

    @classmethod
    def from_workspace(cls, ws: Workspace, **overrides: Any) -> IngestOptions:
        cfg = ws.section("ingest")
        opts = cls(
            min_arabic_ratio=float(cfg.get("min_arabic_ratio", 0.5)),
            min_chars=int(cfg.get("min_chars", 20)),
            max_chars=int(cfg.get("max_chars", 200_000)),
            near_duplicate_threshold=float(cfg.get("near_duplicate_threshold", 0.7)),
            encoding=str(cfg.get("encoding", "auto")),
        )
        for k, v in overrides.items():
            if v is not None:
                setattr(opts, k, v)
        return opts


@dataclass
class SourceReport:
    source: str
    format: str
    fields: dict[str, str | None]
    counts: StageCounts = field(default_factory=StageCounts)
    near_duplicates: int = 0
    encoding: str = ""  # detected or given; "" for Parquet and datasets
    encoding_detected: bool = False  # True when `encoding` was detected, not given
    license: str | None = None
    path: str = ""
    undecodable: int = 0  # quarantined because the bytes did not decode
    id_conflicts: int = 0  # quarantined as "already ingested with different text"
    already_quarantined: int = 0  # quarantined rows that an earlier run had kept already
    notes: list[str] = field(default_factory=list)  # warnings for the user


def get_path(obj: dict[str, Any], path: str) -> Any:
    """`obj["a"]["b"]` for the path "a.b" (a plain key containing dots wins)."""
    if path in obj:
        return obj[path]
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def detect_fields(sample: dict[str, Any], opts: IngestOptions) -> dict[str, str | None]:
    """Which record field feeds each article column: the option if given, else the first
    candidate name present (case-insensitive)."""
    lower = {k.lower(): k for k in sample}
    given = {
        "text": opts.text_field,
        "id": opts.id_field,
        "title": opts.title_field,
        "url": opts.url_field,
        "published_at": opts.date_field,
    }
    out: dict[str, str | None] = {}
    for col, names in FIELD_CANDIDATES.items():
        out[col] = given[col] or next((lower[n] for n in names if n in lower), None)
    return out


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%d/%m/%Y", "%d-%m-%Y")


def normalize_date(value: str | None) -> str | None:
    """ISO 8601 when the date parses (ISO or a few common forms), else the value as given."""
    if not value or not value.strip():
        return None
    v = value.strip()
    try:
        return datetime.fromisoformat(v.replace("Z", "+00:00")).isoformat()
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(v, fmt).isoformat()
        except ValueError:
            continue
    return v


def map_record(
    rec: RawRecord, fields: dict[str, str | None], source: str, license: str | None = None
) -> dict[str, Any]:
    """A RAW_BATCH row from a parsed record.

    What cannot even be stored as text is decided here and given as `reject_reason`: a text
    field holding a non-string value (the text is then None), or a lone surrogate (from a JSON
    escape) in any field (the fields are then made printable, so the row can be kept).
    """
    f = rec.fields or {}
    text_value = get_path(f, fields["text"]) if fields["text"] else None
    row = {
        "source": source,
        "location": rec.location,
        "source_id": _as_text(get_path(f, fields["id"])) if fields["id"] else None,
        "title": _as_text(get_path(f, fields["title"])) if fields["title"] else None,
        "text": text_value if isinstance(text_value, str) else None,
        "url": _as_text(get_path(f, fields["url"])) if fields["url"] else None,
        "published_at": _as_text(get_path(f, fields["published_at"]))
        if fields["published_at"]
        else None,
        "raw": rec.raw,
        "license": license,
        "reject_reason": None,
    }
    if text_value is not None and not isinstance(text_value, str):
        row["reject_reason"] = "the text field holds a non-string value"
    bad = next((c for c in _CHECKED if isinstance(row.get(c), str) and _lone(row[c])), None)
    if bad:
        for c in _CHECKED:
            if isinstance(row.get(c), str):
                row[c] = printable(row[c])
        row["reject_reason"] = (
            f"the {bad} field holds a lone surrogate (an escaped \\ud800-\\udfff without its "
            "pair), which is not text: fix or remove that escape"
        )
    if isinstance(row["raw"], str) and _lone(row["raw"]):
        row["raw"] = printable(row["raw"])
    return row


def clean_article(row: dict[str, Any], opts: IngestOptions) -> dict[str, Any]:
    """The per-article core: canonical text, id, checks. Sets `reject_reason` on a bad row."""
    out = dict(row)
    out["reject_reason"] = row.get("reject_reason")
    out["license"] = row.get("license")
    if out["reject_reason"]:  # decided when mapping the record
        out["text"] = out["text"] or ""
        return _finish(out)
    text = row.get("text")
    if text is None:
        out["reject_reason"] = "missing text (no text field in the record)"
        out["text"] = ""
        return _finish(out)
    if len(text) > opts.max_chars * 2:  # don't spend time normalising megabytes of junk
        out["reject_reason"] = (
            f"text is {len(text):,} characters, over the limit of {opts.max_chars:,} "
            "(ingest.max_chars in corpus.toml)"
        )
        out["text"] = text[:200]
        return _finish(out)
    text = canonicalize(text)
    out["text"] = text
    out["title"] = canonicalize(row["title"]) if row.get("title") else _headline(text)
    out["published_at"] = normalize_date(row.get("published_at"))
    out["source_id"] = row.get("source_id") or None
    out["arabic_ratio"] = ratio = arabic_ratio(text) if text else 0.0
    if not text:
        out["reject_reason"] = "empty text"
    elif len(text) < opts.min_chars:
        out["reject_reason"] = (
            f"text is only {len(text)} characters (minimum {opts.min_chars}: ingest.min_chars)"
        )
    elif len(text) > opts.max_chars:
        out["reject_reason"] = (
            f"text is {len(text):,} characters, over the limit of {opts.max_chars:,} "
            "(ingest.max_chars in corpus.toml)"
        )
    elif ratio < opts.min_arabic_ratio:
        out["reject_reason"] = (
            f"not Arabic: {ratio:.0%} of letters are Arabic script "
            f"(threshold {opts.min_arabic_ratio:.0%}: ingest.min_arabic_ratio)"
        )
    return _finish(out)


_CHECKED = ("text", "title", "url", "source_id", "published_at")


def _lone(value: str) -> bool:
    """True when `value` holds a lone surrogate (from a JSON escape): it cannot be stored."""
    try:
        value.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _finish(out: dict[str, Any]) -> dict[str, Any]:
    text = out.get("text") or ""
    out["content_hash"] = hashlib.blake2b(
        text.encode("utf-8", "surrogatepass"), digest_size=16
    ).hexdigest()
    sid = out.get("source_id")
    # Stable ids: from the source and its own id when it has one, else from the content.
    out["article_id"] = (
        content_id(out["source"], sid, prefix="a")
        if sid
        else content_id(out["content_hash"], prefix="a")
    )
    out.setdefault("arabic_ratio", None)
    return out


def _headline(text: str) -> str | None:
    first = text.split("\n", 1)[0].strip()
    return first if 0 < len(first) <= 200 and "\n" in text else None


def clean_batch(raw: pa.Table, opts: IngestOptions) -> pa.Table:
    """Pure stage function: RAW_BATCH rows in, CLEAN_BATCH rows out (same order)."""
    rows = [clean_article(r, opts) for r in raw.to_pylist()]
    return pa.Table.from_pylist(rows, schema=CLEAN_BATCH)


def clean_and_sign_batch(raw: pa.Table, opts: IngestOptions) -> pa.Table:
    """The ingest map stage: `clean_batch`, plus each accepted row's MinHash `signature`
    (`corpus.ingest.minhash.signature_batch`; rejected rows get the empty text's)."""
    cleaned = clean_batch(raw, opts)
    text = pc.if_else(pc.is_null(cleaned.column("reject_reason")), cleaned.column("text"), "")
    sigs = signature_batch(pa.table({"article_id": cleaned.column("article_id"), "text": text}))
    return cleaned.append_column("signature", sigs.column("signature"))


class CleanAndSign:
    """`clean_and_sign_batch` as a class stage: `__init__` builds the MinHash fold table once
    per worker (with the local engine's fork: once, inherited by every worker)."""

    def __init__(self, opts: IngestOptions):
        self.opts = opts
        signature("warm up")  # builds dedup's code-point fold table (~0.3 s)

    def __call__(self, raw: pa.Table) -> pa.Table:
        return clean_and_sign_batch(raw, self.opts)


def _batched(it: Iterable[Any], n: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for x in it:
        batch.append(x)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def ingest(
    ws: Workspace,
    paths: list[Path],
    opts: IngestOptions,
    on_progress: Callable[[str, int, int], None] | None = None,
    engine: Engine | None = None,
) -> list[SourceReport]:
    """Add the articles of every source to the workspace; returns one report per source.

    Sources that cannot be read at all raise SourceError before anything is written; so do a
    licence that is not SPDX-shaped and an unknown encoding.
    """
    # Fail early on unreadable sources and bad options.
    readers = [SourceReader(p, opts.format, opts.encoding) for p in paths]
    if opts.license is not None:
        check_license(opts.license, "--license")
    registry = ws.read_state(SOURCES_STATE).get("sources", {})
    names, naming_notes = name_sources(readers, opts.source_name, registry)
    configured = ws.section("sources")
    given: dict[str, str] = {}  # licences stated in this run: they apply to earlier rows too
    for name in names:
        lic = opts.license
        if lic is None and isinstance(configured.get(name), dict):
            lic = configured[name].get("license")
            if lic is not None:
                check_license(lic, f'corpus.toml [sources."{name}"] license')
        if lic is not None:
            given[name] = lic
    if not ws.data_remote:
        ws.data_dir.mkdir(parents=True, exist_ok=True)
    index_path = ws.data_dir / "minhash"  # parts; an old minhash.parquet is migrated
    seen_ids: dict[str, str] = {}  # article_id -> content_hash, of everything already stored
    seen_hashes: set[str] = set()
    for b in iter_batches(ws.articles_path, ["article_id", "content_hash"], 65536):
        for aid, h in zip(b.column(0).to_pylist(), b.column(1).to_pylist(), strict=True):
            seen_ids[aid] = h
            seen_hashes.add(h)
    quarantine = Quarantine(ws.quarantine_dir, "ingest")
    reports: list[SourceReport] = []

    with (
        NearDuplicateIndex(index_path, opts.near_duplicate_threshold) as index,
        # New articles are staged until near-duplicate grouping, one global step over all of
        # them and every earlier signature, has given each its dup_group.
        ParquetSink(index.workdir / "articles.parquet", ARTICLES, compression="lz4") as sink,
    ):
        for reader, source, notes in zip(readers, names, naming_notes, strict=True):
            license = given.get(source, registry.get(source, {}).get("license"))
            report = SourceReport(source, reader.format, {}, license=license, notes=notes)
            report.path = str(reader.path.resolve())
            reports.append(report)
            raw = _raw_tables(reader, report, source, license, opts, quarantine, on_progress)
            # Cleaning and MinHash signatures are the map stage (on the runner); duplicates are
            # the one global step.
            for cleaned in map_tables(
                Stage(CleanAndSign, {"opts": opts}),
                raw,
                engine=engine,
                staging=ws.staging("ingest"),
                schema=RAW_BATCH,
            ):
                rows = _dedupe(
                    cleaned.to_pylist(), report, quarantine, index, seen_ids, seen_hashes
                )
                sink.write_rows(rows)
            report.encoding = reader.encoding
            report.encoding_detected = reader.requested_encoding.strip().lower() == "auto"
            if reader.skipped:
                n, some = len(reader.skipped), ", ".join(reader.skipped[:5])
                report.notes.append(
                    f"{n:,} file(s) not read (only .txt and .txt.gz are): {some}"
                    + (", ..." if n > 5 else "")
                )
        sink.close()
        _write_grouped(ws, index, sink.path, reports, given, engine)
    quarantine.flush()
    for report in reports:
        report.already_quarantined = quarantine.already.get(report.source, 0)
    _register(ws, registry, reports)
    return reports


def _raw_tables(
    reader: SourceReader,
    report: SourceReport,
    source: str,
    license: str | None,
    opts: IngestOptions,
    quarantine: Quarantine,
    on_progress: Callable[[str, int, int], None] | None,
) -> Iterator[pa.Table]:
    """RAW_BATCH tables of a source's records; records that did not parse are quarantined."""
    counts = report.counts
    for batch in _batched(reader.records(), BATCH_ROWS):
        counts.read += len(batch)
        good = []
        for rec in batch:
            if not report.fields and rec.fields is not None:
                # Detected from the first record that parsed.
                report.fields = detect_fields(rec.fields, opts)
            if rec.error:
                quarantine.add(
                    QuarantinedRow(source, rec.location, rec.error, rec.raw), rec.raw_bytes
                )
                report.undecodable += rec.raw_bytes is not None
            else:
                good.append(map_record(rec, report.fields, source, license))
        counts.quarantined += len(batch) - len(good)
        if good:
            yield pa.Table.from_pylist(good, schema=RAW_BATCH)
        if on_progress:
            on_progress(source, reader.position, reader.total)


SOURCES_STATE = "sources"  # .corpus/sources.json: each source name's paths and licence


def name_sources(
    readers: list[SourceReader], source_name: str | None, registry: dict[str, Any]
) -> tuple[list[str], list[list[str]]]:
    """The source name of each reader, and notes for the user.

    The name is `--source-name` when given, else the name that path had before, else the file
    name, unless another path already uses it (`agencyA/feed.jsonl` then `agencyB/feed.jsonl`):
    then the shortest tail of the path that is free (`agencyB/feed.jsonl`). So a workspace's
    first source keeps the plain file name (and its article ids), and same-named files never
    share ids. Article ids come from the source name and the source's own ids."""
    taken = {name: set(info.get("paths", [])) for name, info in registry.items()}
    names: list[str] = []
    notes: list[list[str]] = []
    for reader in readers:
        path = str(reader.path.resolve())
        if source_name:
            names.append(source_name)
            notes.append([])
            taken.setdefault(source_name, set()).add(path)
            continue
        prior = next((n for n, paths in taken.items() if path in paths), None)
        if prior is not None:
            names.append(prior)
            notes.append([])
            continue
        parts = Path(path).parts
        name = path
        for k in range(1, len(parts)):
            candidate = "/".join(parts[-k:])
            if not taken.get(candidate):
                name = candidate
                break
        note = []
        if name != reader.path.name:
            other = sorted(taken[reader.path.name])[0]
            note.append(
                f"{reader.path.name} already names another source ({other}): this one is "
                f"named {name}. Pass --source-name NAME to choose a name (with the source's "
                "own ids it makes the article ids)."
            )
        taken.setdefault(name, set()).add(path)
        names.append(name)
        notes.append(note)
    return names, notes


def _register(ws: Workspace, registry: dict[str, Any], reports: list[SourceReport]) -> None:
    for r in reports:
        info = registry.setdefault(r.source, {})
        info["paths"] = sorted(set(info.get("paths", [])) | {r.path})
        if r.license is not None:
            info["license"] = r.license
        if r.encoding:
            info["encoding"] = r.encoding
    ws.write_state(SOURCES_STATE, {"sources": registry})


def _carry_over(batch: pa.RecordBatch, licences: dict[str, str]) -> pa.Table:
    """An existing articles batch in the current schema: files written before the `license`
    column get it as null; sources given a licence in this run get it on every row."""
    table = pa.Table.from_batches([batch])
    if "license" not in table.column_names:
        table = table.append_column("license", pa.nulls(table.num_rows, pa.string()))
    if licences:
        col, src = table.column("license"), table.column("source")
        for name, lic in licences.items():
            col = pc.if_else(pc.equal(src, name), pa.scalar(lic, pa.string()), col)
        table = table.set_column(table.schema.get_field_index("license"), "license", col)
    return table.select(ARTICLES.names)


def _write_grouped(
    ws: Workspace,
    index: NearDuplicateIndex,
    staged: Path,
    reports: list[SourceReport],
    licences: dict[str, str],
    engine: Engine | None = None,
) -> None:
    """Group the staged new articles, then rewrite articles.parquet: the existing articles
    carried over, the new ones appended with their dup_group; save the signatures."""
    groups = index.group(engine or "local")
    start = 0
    for report in reports:  # staged rows are in report order
        end = start + report.counts.accepted
        report.near_duplicates = sum(start <= p < end for p in groups)
        start = end
    col = ARTICLES.get_field_index("dup_group")
    with ParquetSink(ws.articles_path, ARTICLES) as out:
        for b in iter_batches(ws.articles_path, batch_size=8192):
            out.write(_carry_over(b, licences))
        pos = 0
        for b in iter_batches(staged, batch_size=8192):
            ids = b.column("article_id").to_pylist()
            dup = pa.array([groups.get(pos + i, aid) for i, aid in enumerate(ids)], pa.string())
            out.write(b.set_column(col, ARTICLES.field(col), dup))
            pos += len(ids)
        index.save(groups)


def _dedupe(
    cleaned: list[dict[str, Any]],
    report: SourceReport,
    quarantine: Quarantine,
    index: NearDuplicateIndex,
    seen_ids: dict[str, str],
    seen_hashes: set[str],
) -> list[dict[str, Any]]:
    """Exact duplicates are skipped, the rest added to the near-duplicate index; returns the
    rows to stage."""
    counts = report.counts
    rows = []
    new_ids: list[str] = []
    new_sigs: list[bytes] = []
    for r in cleaned:
        if r["reject_reason"]:
            counts.quarantined += 1
            quarantine.add(
                QuarantinedRow(
                    r["source"], r["location"], r["reject_reason"], r["raw"] or r["text"]
                )
            )
            continue
        aid, h = r["article_id"], r["content_hash"]
        if aid in seen_ids and seen_ids[aid] != h:
            counts.quarantined += 1
            report.id_conflicts += 1
            quarantine.add(
                QuarantinedRow(
                    r["source"],
                    r["location"],
                    f"article id {aid} (source id {r['source_id']!r}) was already ingested with "
                    "different text; the first version is kept",
                    r["raw"] or r["text"],
                )
            )
            continue
        if aid in seen_ids or h in seen_hashes:
            counts.duplicate += 1
            continue
        seen_ids[aid] = h
        seen_hashes.add(h)
        new_ids.append(aid)
        new_sigs.append(r["signature"])
        r["dup_group"] = aid  # until grouping, once every source is read
        counts.accepted += 1
        rows.append({k: r[k] for k in ARTICLES.names})
    if new_ids:
        index.add_signatures(
            pa.table(
                {
                    "article_id": pa.array(new_ids, pa.string()),
                    "signature": pa.array(new_sigs, SIGNATURE),
                }
            )  # fmt: skip
        )
    return rows
