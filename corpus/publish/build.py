"""Publish: immutable, documented dataset versions that `datasets.load_dataset` loads as-is.

`publish(ws, "1.0.0")` reads the pulled annotations, adjudicates them (one annotation per
sentence, policy from corpus.toml), joins sentence and article data, assigns splits by article
group and writes `releases/1.0.0/`:

    README.md                      dataset card (YAML: configs, features, license, sizes; prose)
    manifest.json                  version, tool, ontology hash, Label Studio ids, rows, sha256s
    sentences/{train,validation,test}.parquet   one row per annotated sentence
    tokens/{train,validation,test}.parquet      tokens + BIO tags (ClassLabel) per sentence
    documents/{train,validation,test}.parquet   one row per article, offsets into its text

The folder is built next to its final place (`releases/.tmp-VERSION-PID-*`), verified, and
renamed: a crash leaves no partial version (a later publish removes the leftover), and an
existing version is never touched. Data files contain no timestamps and have a fixed row order,
so the same inputs give byte-identical Parquet files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import corpus
from corpus.errors import ReleaseError
from corpus.io import require
from corpus.publish.splits import SPLITS, SplitSpec, assign_splits
from corpus.publish.tokens import TokenTagger, bio_names
from corpus.schemas import ANNOTATIONS
from corpus.workspace import Workspace

CONFIGS = ("sentences", "tokens", "documents")
MANIFEST = "manifest.json"
CARD = "README.md"
TMP_PREFIX = ".tmp-"
# Tokens are built in batches this size: small arrays keep memory flat and fast to allocate.
TOKEN_BATCH = 8192
# Sentences are written in chunks of whole articles of about this many rows.
CHUNK_ROWS = 65_536
# Agreement is measured on at most this many multiply-annotated sentences (plenty for 2 decimals).
AGREEMENT_SAMPLE = 3000
ROW_GROUP = 65_536
COMPRESSION = "zstd"

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)


# --- versions -----------------------------------------------------------------------------------


def version_key(version: str) -> tuple:
    """Sort key of a semantic version (semver.org precedence; build metadata ignored)."""
    m = _SEMVER.match(version)
    if not m:
        raise ReleaseError(
            f"{version!r} is not a semantic version.",
            "Use MAJOR.MINOR.PATCH, e.g. 1.0.0 (optionally -rc.1); no leading 'v'.",
        )
    major, minor, patch, pre = int(m[1]), int(m[2]), int(m[3]), m[4]
    if pre is None:
        return (major, minor, patch, 1, ())
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (major, minor, patch, 0, ids)


def list_versions(releases_dir: Path) -> list[str]:
    """Published versions in `releases_dir`, oldest first (temporary folders ignored)."""
    if not releases_dir.exists():
        return []
    out = [p.name for p in releases_dir.iterdir() if p.is_dir() and _SEMVER.match(p.name)]
    return sorted(out, key=version_key)


def previous_version(releases_dir: Path, version: str) -> str | None:
    """The newest published version older than `version`, if any."""
    key = version_key(version)
    older = [v for v in list_versions(releases_dir) if version_key(v) < key]
    return older[-1] if older else None


# --- features (the schema of every config) ------------------------------------------------------


def release_features(entity_types: list[str], event_types: list[str]) -> dict[str, Any]:
    """`datasets.Features` of each config; tag names come from the ontology, in its order."""
    from datasets import ClassLabel, Features, List, Value

    string, i32, i64 = Value("string"), Value("int32"), Value("int64")
    entity = {"id": string, "start": i32, "end": i32, "label": string, "text": string}
    argument = {
        "role": string,
        "entity_id": string,
        "start": i32,
        "end": i32,
        "label": string,
        "text": string,
    }
    event = {
        "id": string,
        "event_type": string,
        "trigger": {"start": i32, "end": i32, "text": string},
        "arguments": List(argument),
    }
    return {
        "sentences": Features(
            {
                "id": string,
                "article_id": string,
                "group": string,
                "index": i32,
                "start": i32,
                "end": i32,
                "text": string,
                "choice": string,
                "entities": List(entity),
                "events": List(event),
                "provenance": {
                    "annotator": string,
                    "annotators": i32,
                    "annotation_id": i64,
                    "task_id": i64,
                    "project_id": i64,
                    "prelabel": string,
                },
            }
        ),
        "tokens": Features(
            {
                "id": string,
                "tokens": List(string),
                "token_starts": List(i32),
                "token_ends": List(i32),
                "ner_tags": List(ClassLabel(names=bio_names(entity_types))),
                "trigger_tags": List(ClassLabel(names=bio_names(event_types))),
            }
        ),
        "documents": Features(
            {
                "id": string,
                "group": string,
                "title": string,
                "url": string,
                "published_at": string,
                "text": string,
                "sentences": List(
                    {"id": string, "index": i32, "start": i32, "end": i32, "choice": string}
                ),
                "entities": List({"sentence_id": string, **entity}),
                "events": List({"sentence_id": string, **event}),
            }
        ),
    }


# --- reading and adjudicating -------------------------------------------------------------------

_ANNOTATION_COLUMNS = [
    "annotation_id",
    "task_id",
    "project_id",
    "sentence_id",
    "article_id",
    "annotator",
    "created_at",
    "updated_at",
    "lead_time",
    "cancelled",
    "prediction_id",
    "prediction_model_version",
    "sentence_text",
    "entities",
    "triggers",
    "arguments",
    "choice",
]


def read_annotations(path: Path) -> pa.Table:
    """ANNOTATIONS rows without the bulky `raw_result` JSON (left empty: publish never needs it)."""
    return _with_empty_raw(pq.read_table(path, columns=_ANNOTATION_COLUMNS))


def _with_empty_raw(t: pa.Table) -> pa.Table:
    t = t.append_column("raw_result", pa.repeat(pa.scalar("", pa.string()), t.num_rows))
    return t.cast(ANNOTATIONS)


@dataclass
class Adjudicated:
    """The adjudicated annotations and what the card says about them."""

    chosen: pa.Table  # one non-cancelled ANNOTATIONS row per sentence (raw_result empty)
    multi: pa.Table  # the live rows of sentences with two or more annotations (for agreement)
    annotators_per_sentence: pa.Table  # sentence_id, annotators (where more than one row)
    annotators: int  # distinct annotators of non-cancelled work
    cancelled_only: int  # sentences whose annotations were all skipped


def adjudicated(annotations: pa.Table | Path, policy: str, reviewer: str | None) -> Adjudicated:
    """One row per sentence from an ANNOTATIONS table or file.

    A sentence with a single non-cancelled annotation keeps it under every policy, so only
    sentences with two or more go through `corpus.pull.adjudication.adjudicate` (which works row by
    row in Python); the rest is filtered batch by batch while reading. This keeps a million-row
    publish fast and its memory at about the size of the result.
    """
    from corpus.pull.adjudication import adjudicate

    if isinstance(annotations, pa.Table):
        keys = annotations.select(["sentence_id", "annotator", "cancelled"])
        batches = annotations.select(_ANNOTATION_COLUMNS).to_batches(max_chunksize=65_536)
    else:
        keys = pq.read_table(annotations, columns=["sentence_id", "annotator", "cancelled"])
        # Batch by batch: a filtered dataset scan of nested columns is slower and peaks higher.
        batches = pq.ParquetFile(annotations).iter_batches(65_536, columns=_ANNOTATION_COLUMNS)
    live = keys.filter(pc.invert(keys["cancelled"]))
    per = pc.value_counts(live["sentence_id"])
    multi_ids = per.field("values").filter(pc.greater(per.field("counts"), 1))
    live_multi = live.filter(pc.is_in(live["sentence_id"], value_set=multi_ids))
    distinct = live_multi.group_by("sentence_id").aggregate([("annotator", "count_distinct")])
    annotators = len(pc.unique(live["annotator"]))
    cancelled_only = _count_cancelled_only(keys, per.field("values"))
    del keys, live, live_multi

    singles, multis = [], []
    for batch in batches:
        b = pa.Table.from_batches([batch])
        not_cancelled = pc.invert(b["cancelled"])
        in_multi = pc.is_in(b["sentence_id"], value_set=multi_ids)
        singles.append(b.filter(pc.and_(not_cancelled, pc.invert(in_multi))))
        multis.append(b.filter(pc.and_(not_cancelled, in_multi)))
    columns = pa.schema([f for f in ANNOTATIONS if f.name != "raw_result"])
    chosen = _with_empty_raw(pa.concat_tables(singles) if singles else columns.empty_table())
    multi = _with_empty_raw(pa.concat_tables(multis) if multis else columns.empty_table())
    if multi.num_rows:
        decided = adjudicate(multi, policy=policy, reviewer=reviewer or None)
        chosen = pa.concat_tables([chosen, decided.cast(chosen.schema)])
    return Adjudicated(
        chosen=chosen,
        multi=multi,
        annotators_per_sentence=distinct.rename_columns(["sentence_id", "annotators"]),
        annotators=annotators,
        cancelled_only=cancelled_only,
    )


def _count_cancelled_only(keys: pa.Table, live_ids: pa.Array) -> int:
    skipped = pc.unique(keys["sentence_id"].filter(keys["cancelled"]))
    return int(pc.sum(pc.invert(pc.is_in(skipped, value_set=live_ids))).as_py() or 0)


def _take_by_key(keys: pa.Array, table: pa.Table, key: str) -> tuple[pa.Table, pa.Array]:
    """Rows of `table` matching `keys` (in the order of `keys`) and the null mask of misses."""
    idx = pc.index_in(keys, value_set=table[key])
    return table.take(idx), idx.is_null()


def _examples(ids: pa.Array, mask: pa.Array, n: int = 3) -> str:
    return ", ".join(map(str, ids.filter(mask).slice(0, n).to_pylist()))


# --- building the configs -----------------------------------------------------------------------


def _offsets(col: pa.Array) -> np.ndarray:
    """List offsets (n + 1,) of a list column, valid for slices too."""
    lengths = pc.list_value_length(col).fill_null(0).to_numpy().astype(np.int64)
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def _region_index(
    parent_a: np.ndarray, ids_a: pa.Array, parent_b: np.ndarray, ids_b: pa.Array
) -> pa.Array:
    """For each (row, region id) in a, the position of the same pair in b (null if none).

    Region ids are only unique within one annotation, so the key is the pair; ids become
    integer codes first, which hashes much faster than strings.
    """
    vocab = pc.unique(ids_b)
    code_a = pc.fill_null(pc.index_in(ids_a, value_set=vocab), -1).to_numpy().astype(np.int64)
    code_b = pc.index_in(ids_b, value_set=vocab).to_numpy().astype(np.int64)
    width = max(len(vocab), 1)
    key_a = parent_a.astype(np.int64) * width + code_a
    key_b = parent_b.astype(np.int64) * width + code_b
    found = pc.index_in(pa.array(key_a), value_set=pa.array(key_b))
    if (code_a < 0).any():  # an id that no region of b has at all
        found = pc.if_else(pa.array(code_a < 0), pa.nulls(len(found), pa.int32()), found)
    return found


def _list(offsets: np.ndarray, values: pa.Array) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)


def build_events(rows: pa.Table, sentence_ids: pa.Array) -> pa.Array:
    """Events (trigger, type, arguments with their entity spans) per row, from the flat
    `triggers`, `entities` and `arguments` columns of adjudicated annotations (vectorised)."""
    ents_col, trig_col, args_col = (
        rows[c].combine_chunks() for c in ("entities", "triggers", "arguments")
    )
    ents, trigs, args = (pc.list_flatten(c) for c in (ents_col, trig_col, args_col))
    ep, tp, ap = (pc.list_parent_indices(c).to_numpy() for c in (ents_col, trig_col, args_col))
    a_ent = _region_index(ap, pc.struct_field(args, "entity_id"), ep, pc.struct_field(ents, "id"))
    a_trig = _region_index(
        ap, pc.struct_field(args, "trigger_id"), tp, pc.struct_field(trigs, "id")
    )
    dangling = pc.or_(a_ent.is_null(), a_trig.is_null())
    if pc.any(dangling).as_py():
        first = int(np.flatnonzero(dangling.to_numpy(zero_copy_only=False))[0])
        raise ReleaseError(
            f"Sentence {sentence_ids[int(ap[first])]}: an argument points to a region that is not "
            "an entity/trigger of the same annotation.",
            "Re-pull the annotations (`corpus pull --full`); pull validates relations.",
        )
    a_trig_np = a_trig.to_numpy().astype(np.int64)
    order = np.argsort(a_trig_np, kind="stable")  # arguments grouped by trigger, input order
    a_ent_sorted = pc.take(a_ent, pa.array(order))
    arguments = pa.StructArray.from_arrays(
        [
            pc.take(pc.struct_field(args, "role"), pa.array(order)),
            pc.take(pc.struct_field(args, "entity_id"), pa.array(order)),
            *(
                pc.take(pc.struct_field(ents, f), a_ent_sorted)
                for f in ("start", "end", "label", "text")
            ),
        ],
        names=["role", "entity_id", "start", "end", "label", "text"],
    )
    per_trigger = np.bincount(a_trig_np, minlength=len(trigs))
    arg_offsets = np.zeros(len(trigs) + 1, dtype=np.int64)
    np.cumsum(per_trigger, out=arg_offsets[1:])
    trigger = pa.StructArray.from_arrays(
        [pc.struct_field(trigs, f) for f in ("start", "end", "text")],
        names=["start", "end", "text"],
    )
    events = pa.StructArray.from_arrays(
        [
            pc.struct_field(trigs, "id"),
            pc.struct_field(trigs, "event_type"),
            trigger,
            _list(arg_offsets, arguments),
        ],
        names=["id", "event_type", "trigger", "arguments"],
    )
    return _list(_offsets(trig_col), events)


def _shift(values: pa.Array, by: np.ndarray) -> pa.Array:
    return pa.array(values.to_numpy(zero_copy_only=False).astype(np.int64) + by, pa.int32())


def build_documents(sentences: pa.Table, articles: pa.Table) -> pa.Table:
    """One row per article of `sentences` (sorted by article, index); offsets into the article."""
    n = sentences.num_rows
    art = sentences["article_id"].combine_chunks()
    if n == 0:
        first = np.zeros(0, dtype=np.int64)
    else:
        change = pc.not_equal(art.slice(1), art.slice(0, n - 1)).to_numpy(zero_copy_only=False)
        first = np.concatenate(([0], np.flatnonzero(change) + 1))
    doc_bounds = np.concatenate((first, [n])).astype(np.int64)
    sent_start = sentences["start"].combine_chunks().to_numpy().astype(np.int64)
    sid = sentences["id"].combine_chunks()

    sent_struct = pa.StructArray.from_arrays(
        [sid, *(sentences[c].combine_chunks() for c in ("index", "start", "end", "choice"))],
        names=["id", "index", "start", "end", "choice"],
    )

    ents_col = sentences["entities"].combine_chunks()
    ents = pc.list_flatten(ents_col)
    ep = pc.list_parent_indices(ents_col).to_numpy()
    doc_ents = pa.StructArray.from_arrays(
        [
            pc.take(sid, pa.array(ep)),
            pc.struct_field(ents, "id"),
            _shift(pc.struct_field(ents, "start"), sent_start[ep]),
            _shift(pc.struct_field(ents, "end"), sent_start[ep]),
            pc.struct_field(ents, "label"),
            pc.struct_field(ents, "text"),
        ],
        names=["sentence_id", "id", "start", "end", "label", "text"],
    )

    ev_col = sentences["events"].combine_chunks()
    evs = pc.list_flatten(ev_col)
    vp = pc.list_parent_indices(ev_col).to_numpy()
    trig = pc.struct_field(evs, "trigger")
    args_col = pc.struct_field(evs, "arguments")
    args = pc.list_flatten(args_col)
    arg_sentence = vp[pc.list_parent_indices(args_col).to_numpy()]
    doc_args = pa.StructArray.from_arrays(
        [
            pc.struct_field(args, "role"),
            pc.struct_field(args, "entity_id"),
            _shift(pc.struct_field(args, "start"), sent_start[arg_sentence]),
            _shift(pc.struct_field(args, "end"), sent_start[arg_sentence]),
            pc.struct_field(args, "label"),
            pc.struct_field(args, "text"),
        ],
        names=["role", "entity_id", "start", "end", "label", "text"],
    )
    doc_events = pa.StructArray.from_arrays(
        [
            pc.take(sid, pa.array(vp)),
            pc.struct_field(evs, "id"),
            pc.struct_field(evs, "event_type"),
            pa.StructArray.from_arrays(
                [
                    _shift(pc.struct_field(trig, "start"), sent_start[vp]),
                    _shift(pc.struct_field(trig, "end"), sent_start[vp]),
                    pc.struct_field(trig, "text"),
                ],
                names=["start", "end", "text"],
            ),
            _list(_offsets(args_col), doc_args),
        ],
        names=["sentence_id", "id", "event_type", "trigger", "arguments"],
    )

    doc_ids = pc.take(art, pa.array(doc_bounds[:-1]))
    meta, _ = _take_by_key(doc_ids, articles, "article_id")
    return pa.table(
        {
            "id": doc_ids,
            "group": meta["dup_group"],
            "title": meta["title"],
            "url": meta["url"],
            "published_at": meta["published_at"],
            "text": meta["text"],
            "sentences": _list(doc_bounds, sent_struct),
            "entities": _list(_offsets(ents_col)[doc_bounds], doc_ents),
            "events": _list(_offsets(ev_col)[doc_bounds], doc_events),
        }
    )


def _check_labels(rows: pa.Table, ontology: Any) -> None:
    """Every label, event type and role must be in the ontology the release documents."""
    sid = rows["sentence_id"].combine_chunks()

    def check(col: str, fieldname: str, allowed: list[str], what: str) -> None:
        lists = rows[col].combine_chunks()
        values = pc.struct_field(pc.list_flatten(lists), fieldname)
        bad = pc.invert(pc.is_in(values, value_set=pa.array(allowed, pa.string())))
        if pc.any(bad).as_py():
            i = int(np.flatnonzero(bad.to_numpy(zero_copy_only=False))[0])
            parent = pc.list_parent_indices(lists)[i].as_py()
            raise ReleaseError(
                f"Sentence {sid[parent]}: {what} {values[i].as_py()!r} is not in the ontology "
                f"{ontology.name!r} (hash {ontology.hash[:12]}).",
                "The ontology changed after these annotations were made: restore it, or fix the "
                "annotations in Label Studio and pull again.",
            )

    check("entities", "label", list(ontology.entity_types), "entity label")
    check("triggers", "event_type", list(ontology.event_types), "event type")
    check("arguments", "role", list(ontology.roles), "argument role")


# --- statistics for the card and manifest -------------------------------------------------------


def _value_counts(values: pa.Array) -> dict[str, int]:
    if len(values) == 0:
        return {}
    vc = pc.value_counts(values)
    return dict(
        sorted(
            zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True),
            key=lambda kv: (str(kv[0]),),
        )
    )


def label_counts(sentences: pa.Table) -> dict[str, dict[str, int]]:
    """Counts of entity labels, event types, argument roles and sentence choices in a table."""
    ents = pc.list_flatten(sentences["entities"].combine_chunks())
    evs = pc.list_flatten(sentences["events"].combine_chunks())
    args = pc.list_flatten(pc.struct_field(evs, "arguments")) if len(evs) else pa.array([])
    return {
        "entities": _value_counts(pc.struct_field(ents, "label")) if len(ents) else {},
        "events": _value_counts(pc.struct_field(evs, "event_type")) if len(evs) else {},
        "roles": _value_counts(pc.struct_field(args, "role")) if len(args) else {},
        "choices": _value_counts(sentences["choice"].combine_chunks().fill_null("(none)")),
    }


def _prelabelers(ws: Workspace) -> list[dict[str, Any]]:
    if not ws.predictions_path.exists():
        return []
    t = pq.read_table(ws.predictions_path, columns=["source", "model_version"])
    g = t.group_by(["source", "model_version"]).aggregate([("source", "count")])
    rows = sorted(g.to_pylist(), key=lambda r: (r["source"], r["model_version"]))
    return [
        {"name": r["source"], "version": r["model_version"], "sentences": r["source_count"]}
        for r in rows
    ]


def _agreement(multi: pa.Table, shared: int) -> dict[str, Any]:
    """Headline agreement figures (corpus.pull.agreement) over the multiply-annotated sentences, or
    a fixed sample of them (the first `AGREEMENT_SAMPLE` by id; ids are content hashes)."""
    if shared == 0:
        return {"sentences_multiply_annotated": 0}
    from corpus.pull.agreement import agreement_report

    ids = pc.unique(multi["sentence_id"])
    sample = multi
    if len(ids) > AGREEMENT_SAMPLE:
        keep = pc.take(ids, pc.sort_indices(ids)).slice(0, AGREEMENT_SAMPLE)
        sample = multi.filter(pc.is_in(multi["sentence_id"], value_set=keep))
    rep = agreement_report(sample)
    return {
        "sentences_multiply_annotated": shared,
        "sentences_measured": rep["sentences_multiply_annotated"],
        "span_f1": rep["span_f1"]["overall"],
        "choice": rep["choice"],
        "trigger_type": rep["trigger_type"],
    }


def _label_studio(ws: Workspace) -> dict[str, Any]:
    project = ws.read_state("project")
    pulls = ws.read_state("pull").get("projects", {})
    snapshots = [
        {
            "project_id": int(pid),
            "snapshot_id": p.get("snapshot_id"),
            "review": bool(p.get("review")),
        }
        for pid, p in sorted(pulls.items(), key=lambda kv: str(kv[0]))
    ]
    return {"project_id": project.get("project_id"), "snapshots": snapshots}


def size_category(n: int) -> str:
    """The Hugging Face `size_categories` bucket of `n` rows."""
    for limit, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
        (100_000_000, "10M<n<100M"),
    ):
        if n < limit:
            return name
    return "100M<n<1B"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --- the publish step ---------------------------------------------------------------------------


@dataclass
class PublishReport:
    version: str
    path: Path
    rows: dict[str, dict[str, int]]
    alignment: dict[str, dict[str, int]]
    excluded: dict[str, int]
    previous: str | None
    changes: dict[str, Any] | None = None
    manifest: dict[str, Any] = field(default_factory=dict)


def _cleanup_stale(releases_dir: Path) -> None:
    """Remove temporary folders left by a publish that was killed (its process is gone)."""
    for p in releases_dir.glob(TMP_PREFIX + "*"):
        m = re.match(re.escape(TMP_PREFIX) + r".*-(\d+)-[0-9a-f]+$", p.name)
        if not m:
            continue
        try:
            os.kill(int(m[1]), 0)
            alive = int(m[1]) != os.getpid()
        except ProcessLookupError:
            alive = False
        except PermissionError:
            alive = True
        if not alive:
            shutil.rmtree(p, ignore_errors=True)


def _writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Statistics and dictionary pages are deterministic; nothing time-dependent is written.
    return pq.ParquetWriter(path, schema, compression=COMPRESSION)


def publish(
    ws: Workspace,
    version: str,
    message: str = "",
    *,
    on_step: Callable[[str], None] | None = None,
) -> PublishReport:
    """Build `releases/VERSION/` from the workspace's annotations (see the module docstring)."""
    step = on_step or (lambda _msg: None)
    version_key(version)
    releases = ws.releases_dir
    final = releases / version
    if final.exists():
        raise ReleaseError(
            f"Release {version} already exists at {final}.",
            "Releases are immutable: publish a new version (e.g. bump the patch number).",
        )
    require(ws.annotations_path, "corpus pull")
    require(ws.sentences_path, "corpus segment")
    require(ws.articles_path, "corpus ingest SOURCE")
    releases.mkdir(parents=True, exist_ok=True)
    _cleanup_stale(releases)
    tmp = releases / f"{TMP_PREFIX}{version}-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        report = _build(ws, version, message, tmp, step)
        step("verifying")
        from corpus.publish.release import verify

        problems = verify(tmp).problems
        if problems:
            raise ReleaseError(
                "The release failed its own verification: " + "; ".join(problems[:5]),
                "This is a bug in corpus publish; please report it with the workspace.",
            )
        try:
            os.rename(tmp, final)
        except OSError as e:
            raise ReleaseError(
                f"Release {version} appeared while publishing (another publish?).",
                "Publish a new version.",
            ) from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report.path = final
    return report


def _build(
    ws: Workspace, version: str, message: str, out: Path, step: Callable[[str], None]
) -> PublishReport:
    from corpus.ontology import load_ontology

    ontology = load_ontology(ws.ontology_path)
    spec = SplitSpec.from_config(ws.section("splits"))
    from corpus.pull.adjudication import workspace_policy

    policy, reviewer = workspace_policy(ws)  # checked; a Label Studio user id becomes its pseudonym

    # 1. One adjudicated annotation per sentence; "noise" sentences are not training data.
    step("adjudicating annotations")
    adj_ = adjudicated(ws.annotations_path, policy, reviewer)
    chosen, adj_.chosen = adj_.chosen, None  # one reference: filtering below copies it
    noise = pc.fill_null(pc.equal(chosen["choice"], "noise"), False)
    excluded = {"noise": int(pc.sum(noise).as_py() or 0), "cancelled_only": adj_.cancelled_only}
    if excluded["noise"]:
        chosen = chosen.filter(pc.invert(noise))
    _check_labels(chosen, ontology)
    pa.default_memory_pool().release_unused()

    # 2. Sentence text and position, article and group: joined by key, never by position.
    step("joining sentences and articles")
    sids = chosen["sentence_id"].combine_chunks()
    sent = _join_sentences(ws, sids, chosen["sentence_text"].combine_chunks())
    articles = pq.read_table(
        ws.articles_path,
        columns=["article_id", "title", "text", "url", "published_at", "dup_group"],
        filters=pc.is_in(pc.field("article_id"), value_set=pc.unique(sent["article_id"])),
    ).combine_chunks()  # one chunk: taking from many chunks concatenates them on every call
    # Only the group key per sentence: taking whole article rows would copy each text per sentence.
    group_idx = pc.index_in(sent["article_id"], value_set=articles["article_id"])
    if group_idx.null_count:
        raise ReleaseError(
            f"Sentences refer to articles missing from {ws.articles_path} "
            f"(e.g. {_examples(sent['article_id'], group_idx.is_null())}).",
            "Restore articles.parquet (ingest never removes articles).",
        )
    group = _array(pc.take(articles["dup_group"], group_idx))
    per = adj_.annotators_per_sentence
    n_annot = _array(
        pc.take(per["annotators"], pc.index_in(sids, value_set=per["sentence_id"]))
    ).fill_null(1)
    table = pa.table(
        {
            "id": sids,
            "article_id": sent["article_id"],
            "group": group,
            "index": sent["index"],
            "start": sent["start"],
            "end": sent["end"],
            "text": sent["text"],
            "choice": chosen["choice"].combine_chunks(),
            "entities": chosen["entities"].combine_chunks(),
            "events": build_events(chosen, sids),
            "provenance": pa.StructArray.from_arrays(
                [
                    chosen["annotator"].combine_chunks(),
                    pc.cast(n_annot, pa.int32()),
                    chosen["annotation_id"].combine_chunks(),
                    chosen["task_id"].combine_chunks(),
                    chosen["project_id"].combine_chunks(),
                    chosen["prediction_model_version"].combine_chunks(),
                ],
                names=[
                    "annotator",
                    "annotators",
                    "annotation_id",
                    "task_id",
                    "project_id",
                    "prelabel",
                ],
            ),
        }
    )
    del chosen, sent
    pa.default_memory_pool().release_unused()  # hand freed input buffers back before writing
    if table.num_rows == 0:
        raise ReleaseError(
            "Nothing to publish: no annotated sentence (apart from noise and skipped ones).",
            "Annotate in Label Studio, then `corpus pull`.",
        )
    split_of_row = assign_splits(group, spec)
    # A fixed order (article, then position in it) makes the files byte-reproducible; articles
    # are ranked once so the sort itself is on integers.
    ranked = pc.take(articles["article_id"], pc.sort_indices(articles["article_id"]))
    article_rank = pc.index_in(table["article_id"], value_set=ranked).to_numpy()
    order = pa.array(np.lexsort((table["index"].to_numpy(), article_rank)))
    split_sorted = pc.take(split_of_row, order)

    # 3. Every config, split by split, in chunks of whole articles (memory stays flat).
    features = release_features(list(ontology.entity_types), list(ontology.event_types))
    schemas = {name: f.arrow_schema for name, f in features.items()}
    tagger = TokenTagger(list(ontology.entity_types), list(ontology.event_types))
    rows: dict[str, dict[str, int]] = {c: dict.fromkeys(SPLITS, 0) for c in CONFIGS}
    nbytes: dict[str, dict[str, int]] = {c: dict.fromkeys(SPLITS, 0) for c in CONFIGS}
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for split in SPLITS:
        idx = order.filter(pc.equal(split_sorted, split))
        step(f"writing {split} ({len(idx):,} sentences)")
        counts[split] = {k: {} for k in ("entities", "events", "roles", "choices")}
        if len(idx) == 0:
            continue  # `datasets` cannot load an empty split: it gets no file and no card entry
        writers = {c: _writer(out / c / f"{split}.parquet", schemas[c]) for c in CONFIGS}
        try:
            # Parquet encoding runs in a second thread (it releases the GIL) while the next
            # chunk is built; one chunk in flight at most, so memory stays bounded. One
            # worker keeps every file's row order fixed.
            with ThreadPoolExecutor(max_workers=1) as pool:
                pending: list = []
                for part in _article_chunks(table, idx):
                    part = part.cast(schemas["sentences"])
                    _add_counts(counts[split], label_counts(part))
                    tokens = pa.concat_tables(
                        tagger(_spans_for_tagging(part.slice(lo, TOKEN_BATCH))).cast(
                            schemas["tokens"]
                        )
                        for lo in range(0, part.num_rows, TOKEN_BATCH)
                    )
                    docs = build_documents(part, articles).cast(schemas["documents"])
                    for f in pending:
                        f.result()
                    pending = [
                        pool.submit(_write_part, writers[c], t, rows[c], nbytes[c], split)
                        for c, t in (("sentences", part), ("tokens", tokens), ("documents", docs))
                    ]
                    del part, tokens, docs
                for f in pending:
                    f.result()
        finally:
            for w in writers.values():
                w.close()
    del table

    # 4. What changed, the card and the manifest (with a checksum of every file).
    step("documenting")
    prev = previous_version(ws.releases_dir, version)
    changes = None
    if prev:
        from corpus.publish.release import diff

        changes = diff(ws.releases_dir / prev, out, new_version=version).as_dict(limit=20)
    alignment = {"entities": tagger.entities.as_dict(), "triggers": tagger.triggers.as_dict()}
    info = {
        "version": version,
        "message": message,
        "previous_version": prev,
        "tool": {"name": "corpus", "version": corpus.__version__},
        "workspace": ws.section("workspace").get("name", ws.root.name),
        "ontology": {
            "name": ontology.name,
            "hash": ontology.hash,
            "entity_types": list(ontology.entity_types),
            "event_types": {k: list(v) for k, v in ontology.event_types.items()},
        },
        "label_studio": _label_studio(ws),
        "adjudication": {"policy": policy, "reviewer": reviewer},
        "splits": {**spec.as_dict(), "by": "dup_group", "hash": "blake2b(seed, dup_group)"},
        "annotators": adj_.annotators,
        "agreement": _agreement(
            adj_.multi,
            int(pc.sum(pc.greater(adj_.annotators_per_sentence["annotators"], 1)).as_py() or 0),
        ),
        "prelabelers": _prelabelers(ws),
        "excluded": excluded,
        "token_alignment": alignment,
        "label_counts": counts,
        "rows": rows,
        "bytes": nbytes,
        "changes": changes,
        "publish": ws.section("publish"),
        "configs": {
            name: {
                "features": features[name].to_dict(),
                "files": {s: f"{name}/{s}.parquet" for s in SPLITS if rows[name][s]},
            }
            for name in CONFIGS
        },
    }
    (out / CARD).write_text(dataset_card(info, features), encoding="utf-8")
    manifest = {k: v for k, v in info.items() if k not in ("publish",)}
    manifest["files"] = {
        str(p.relative_to(out)): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    (out / MANIFEST).write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return PublishReport(version, out, rows, alignment, excluded, prev, changes, manifest)


def _array(x: pa.Array | pa.ChunkedArray) -> pa.Array:
    return x.combine_chunks() if isinstance(x, pa.ChunkedArray) else x


def _join_sentences(ws: Workspace, sids: pa.Array, annotated_text: pa.Array) -> pa.Table:
    """Sentence rows for `sids`, in that order; errors if any is missing or its text changed."""
    sentences = pq.read_table(
        ws.sentences_path,
        columns=["sentence_id", "article_id", "index", "start", "end", "text"],
        filters=pc.is_in(pc.field("sentence_id"), value_set=sids),
    )
    idx = pc.index_in(sids, value_set=sentences["sentence_id"])
    if idx.null_count:
        raise ReleaseError(
            f"{idx.null_count} annotated sentences are not in {ws.sentences_path} "
            f"(e.g. {_examples(sids, idx.is_null())}).",
            "The sentences were re-segmented after annotation: restore sentences.parquet.",
        )
    sent = pa.table({c: _array(pc.take(sentences[c], idx)) for c in sentences.column_names})
    del sentences
    pa.default_memory_pool().release_unused()
    stale = pc.fill_null(pc.not_equal(annotated_text, sent["text"]), False)
    if pc.any(stale).as_py():
        raise ReleaseError(
            f"{pc.sum(stale).as_py()} annotations were made on a different sentence text than "
            f"sentences.parquet holds (e.g. {_examples(sids, stale)}).",
            "The articles changed after annotation: re-pull (`corpus pull --full`).",
        )
    return sent


def _article_chunks(table: pa.Table, idx: pa.Array, size: int = CHUNK_ROWS):
    """`table.take(idx)` in pieces of about `size` rows, each ending at an article boundary."""
    articles = pc.take(table["article_id"], idx)
    n = len(idx)
    lo = 0
    while lo < n:
        hi = min(lo + size, n)
        if hi < n:  # move the cut forward to the next change of article
            tail = articles.slice(hi - 1, min(n, hi + 10_000) - hi + 1)
            same = pc.equal(tail, tail[0]).to_numpy(zero_copy_only=False)
            first_other = np.flatnonzero(~same)
            hi = hi - 1 + int(first_other[0]) if first_other.size else min(n, hi + 10_000)
        yield table.take(idx.slice(lo, hi - lo))
        lo = hi


def _write_part(
    writer: pq.ParquetWriter,
    part: pa.Table,
    rows: dict[str, int],
    nbytes: dict[str, int],
    split: str,
) -> None:
    writer.write_table(part, row_group_size=ROW_GROUP)
    rows[split] += part.num_rows
    nbytes[split] += part.nbytes


def _add_counts(into: dict[str, dict[str, int]], more: dict[str, dict[str, int]]) -> None:
    for kind, labels in more.items():
        for label, n in labels.items():
            into[kind][label] = into[kind].get(label, 0) + n
        into[kind] = dict(sorted(into[kind].items()))


def _spans_for_tagging(batch: pa.Table) -> pa.Table:
    """The columns `TokenTagger` reads, from rows of the sentences config."""
    return pa.table(
        {
            "id": batch["id"],
            "text": batch["text"],
            "entities": batch["entities"],
            "triggers": _triggers_of(batch["events"].combine_chunks()),
        }
    )


def _triggers_of(events: pa.Array) -> pa.Array:
    """The trigger spans of an `events` list column, shaped like the annotations' `triggers`."""
    evs = pc.list_flatten(events)
    trig = pc.struct_field(evs, "trigger")
    flat = pa.StructArray.from_arrays(
        [
            pc.struct_field(trig, "start"),
            pc.struct_field(trig, "end"),
            pc.struct_field(evs, "event_type"),
        ],
        names=["start", "end", "event_type"],
    )
    return _list(_offsets(events), flat)


# --- the dataset card ---------------------------------------------------------------------------

_CONFIG_DOCS = {
    "sentences": "one row per annotated sentence: text, entity spans, events (trigger, type, "
    "arguments), the sentence choice and provenance; offsets into `text`",
    "tokens": "tokens with offsets and BIO tags (`ner_tags`, `trigger_tags`, ClassLabel) "
    "for token classification",
    "documents": "one row per article: full text, its annotated sentences, entities and "
    "events across them; offsets into the article `text`",
}


def _fmt(x: Any) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.3f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def _card_yaml(info: dict[str, Any], features: dict[str, Any]) -> str:
    import yaml

    publish_cfg = info.get("publish") or {}
    total = sum(info["rows"]["sentences"].values())
    header = {
        "pretty_name": publish_cfg.get("pretty_name") or info["workspace"],
        "license": publish_cfg.get("license", "other"),
        "language": ["ar"],
        "multilinguality": ["monolingual"],
        "task_categories": ["token-classification"],
        "task_ids": ["named-entity-recognition"],
        "size_categories": [size_category(total)],
        "tags": ["arabic", "event-extraction", "news", "label-studio"],
        "configs": [
            {
                "config_name": name,
                "data_files": [
                    {"split": s, "path": path} for s, path in info["configs"][name]["files"].items()
                ],
                **({"default": True} if name == "sentences" else {}),
            }
            for name in CONFIGS
        ],
        "dataset_info": [
            {
                "config_name": name,
                "features": features[name]._to_yaml_list(),
                "splits": [
                    {
                        "name": s,
                        "num_bytes": info["bytes"][name][s],
                        "num_examples": info["rows"][name][s],
                    }
                    for s in info["configs"][name]["files"]
                ],
            }
            for name in CONFIGS
        ],
    }
    return yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=100)


def dataset_card(info: dict[str, Any], features: dict[str, Any]) -> str:
    """README.md of a release: Hugging Face YAML header and the prose a model team needs."""
    v = info["version"]
    rows = info["rows"]
    name = (info.get("publish") or {}).get("pretty_name") or info["workspace"]
    total = sum(rows["sentences"].values())
    docs = sum(rows["documents"].values())
    out = [f"---\n{_card_yaml(info, features)}---\n", f"# {name} — version {v}\n"]
    if info.get("message"):
        out.append(f"{info['message']}\n")
    out.append(
        f"Arabic news sentences annotated with entities and events in Label Studio, published "
        f"by `corpus` {info['tool']['version']}: {total:,} sentences from {docs:,} articles, "
        f"annotated by {info['annotators']} annotators. This version never changes: its files "
        f"are listed with their sha256 in `manifest.json` (`corpus verify {v}` checks them).\n"
    )

    out.append("## Configurations\n")
    out.append("| config | train | validation | test | contents |\n|---|---:|---:|---:|---|")
    for c in CONFIGS:
        r = rows[c]
        out.append(
            f"| `{c}` | {r['train']:,} | {r['validation']:,} | {r['test']:,} | {_CONFIG_DOCS[c]} |"
        )
    out.append("")

    out.append("## Loading\n")
    out.append(
        "```python\nfrom datasets import load_dataset\n\n"
        f'sentences = load_dataset("path/to/releases/{v}", "sentences")\n'
        f'tokens = load_dataset("path/to/releases/{v}", "tokens")\n'
        'ner_labels = tokens["train"].features["ner_tags"].feature.names\n'
        'trigger_labels = tokens["train"].features["trigger_tags"].feature.names\n\n'
        "# from the Hugging Face Hub, pinned to this version:\n"
        f'# load_dataset("ORG/NAME", "tokens", revision="{v}")\n```\n'
    )
    out.append(
        "Offsets (`start`, `end`, `token_starts`, `token_ends`) are Python code points, "
        "end-exclusive: `text[start:end]` is the span text. Texts are exactly as annotators saw "
        "them (no Arabic normalisation).\n"
    )

    onto = info["ontology"]
    out.append("## Ontology\n")
    out.append(f"`{onto['name']}`, sha256 `{onto['hash']}`.\n")
    out.append("Entity types: " + ", ".join(f"`{t}`" for t in onto["entity_types"]) + ".\n")
    out.append("| event type | argument roles |\n|---|---|")
    for et, roles in onto["event_types"].items():
        out.append(f"| `{et}` | {', '.join(roles) or '—'} |")
    out.append("")

    out.append("## Label counts per split\n")
    out.append("| kind | label | train | validation | test |\n|---|---|---:|---:|---:|")
    counts = info["label_counts"]
    for kind in ("entities", "events", "roles", "choices"):
        labels = sorted({lab for s in SPLITS for lab in counts[s][kind]})
        for lab in labels:
            vals = " | ".join(f"{counts[s][kind].get(lab, 0):,}" for s in SPLITS)
            out.append(f"| {kind} | `{lab}` | {vals} |")
    out.append("")

    agr = info["agreement"]
    adj = info["adjudication"]
    out.append("## Annotation\n")
    out.append(
        f"- Annotators: {info['annotators']} (identified only by pseudonymous ids in "
        "`provenance.annotator`)."
    )
    policy = adj["policy"] + (f" (reviewer `{adj['reviewer']}`)" if adj.get("reviewer") else "")
    out.append(
        f"- Adjudication: one annotation per sentence, policy `{policy}`; "
        "`provenance.annotators` is how many annotators labelled the sentence."
    )
    if agr.get("sentences_measured"):
        f1 = agr.get("span_f1", {})
        of = agr["sentences_multiply_annotated"]
        sample = f" (a fixed sample of {of:,})" if of > agr["sentences_measured"] else ""
        out.append(
            f"- Agreement over {agr['sentences_measured']:,} sentences annotated by two or more "
            f"annotators{sample}: span F1 exact {_fmt(f1.get('f1_exact'))}, overlap "
            f"{_fmt(f1.get('f1_overlap'))}; sentence choice Fleiss' kappa "
            f"{_fmt(agr['choice'].get('fleiss_kappa'))}, Krippendorff's alpha "
            f"{_fmt(agr['choice'].get('krippendorff_alpha'))}; trigger type Fleiss' kappa "
            f"{_fmt(agr['trigger_type'].get('fleiss_kappa'))}."
        )
    else:
        out.append("- Agreement: no sentence was annotated by more than one annotator.")
    if info["prelabelers"]:
        pre = "; ".join(
            f"`{p['name']}` {p['version']} ({p['sentences']:,} sentences)"
            for p in info["prelabelers"]
        )
        out.append(f"- Pre-labels shown to annotators (to correct, not to accept blindly): {pre}.")
    else:
        out.append("- Pre-labels: none recorded.")
    ex = info["excluded"]
    out.append(
        f"- Left out: {ex['noise']:,} sentences marked `noise`, {ex['cancelled_only']:,} sentences "
        "only skipped by annotators.\n"
    )

    sp = info["splits"]
    out.append("## Splits\n")
    out.append(
        f"Split by article group: an article and its near-duplicates (`group`) always share a "
        f"split, so no near-duplicate leaks between train, validation and test. The split of a "
        f"group is a keyed hash of its key (blake2b of seed {sp['seed']} and the group) mapped "
        f"to train {sp['train']:g} / validation {sp['validation']:g} / test {sp['test']:g}; it "
        f"depends on nothing else, so an article keeps its split in every version.\n"
    )

    al = info["token_alignment"]
    out.append("## Tokens and BIO tags\n")
    out.append(
        "Tokens follow camel-tools `simple_word_tokenize` (whitespace, then every punctuation "
        "or symbol character alone; emoji sequences whole; diacritics and tatweel inside words), "
        "except that a hashtag such as `#دير_الزور` is one token and the direction marks LRM, RLM "
        "and ALM separate tokens. A span tags every token it overlaps (`B-` then `I-`); a span "
        "with an edge inside a token (a clitic: `الجيش` in `والجيش`) still tags it and is "
        "counted, spans overlapping an earlier span of the same kind cannot be BIO tags."
    )
    out.append(
        "\n| spans | total | tagged | edge inside a token | dropped: overlap | dropped: no token |"
    )
    out.append("|---|---:|---:|---:|---:|---:|")
    for kind in ("entities", "triggers"):
        a = al[kind]
        out.append(
            f"| {kind} | {a['spans']:,} | {a['tagged']:,} | {a['misaligned']:,} | "
            f"{a['overlapping']:,} | {a['empty']:,} |"
        )
    out.append("")

    out.append("## Changes since the previous version\n")
    ch = info.get("changes")
    if not info.get("previous_version"):
        out.append("First release.\n")
    else:
        out.append(
            f"Compared with {info['previous_version']}: {ch['added']:,} sentences added, "
            f"{ch['removed']:,} removed, {ch['relabelled']:,} relabelled, "
            f"{ch['moved_split']:,} changed split.\n"
        )
        changed = [
            (kind, lab, c)
            for kind, labs in ch["label_counts"].items()
            for lab, c in labs.items()
            if c["delta"]
        ]
        if changed:
            out.append("| kind | label | before | after | change |\n|---|---|---:|---:|---:|")
            for kind, lab, c in changed:
                out.append(
                    f"| {kind} | `{lab}` | {c['before']:,} | {c['after']:,} | {c['delta']:+,} |"
                )
            out.append("")

    ls = info["label_studio"]
    out.append("## Provenance\n")
    snaps = ", ".join(
        f"project {s['project_id']} snapshot {s['snapshot_id']}"
        + (" (review)" if s["review"] else "")
        for s in ls["snapshots"]
    )
    out.append(
        f"- Label Studio project: {ls['project_id'] if ls['project_id'] is not None else 'n/a'}; "
        f"export snapshots: {snaps or 'n/a'}."
    )
    out.append(f"- Built by `corpus` {info['tool']['version']}; ontology sha256 `{onto['hash']}`.")
    out.append(
        "- `manifest.json`: version, row counts, label counts and the sha256 of every file.\n"
    )
    return "\n".join(out)
