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

import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator
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
from corpus.io import (
    read_schema,
    read_table,
    require,
)
from corpus.licenses import check_license
from corpus.lock import alive
from corpus.publish.annotations import Adjudicated, adjudicated, check_labels
from corpus.publish.baselines import baseline_scores, not_computed
from corpus.publish.card import dataset_card
from corpus.publish.configs import CONFIGS, build_events, release_features
from corpus.publish.licenses import release_license, source_counts
from corpus.publish.manifest import (
    CARD,
    make_read_only,
    make_writable,
    previous_version,
    read_manifest,
    version_key,
    write_manifest,
)
from corpus.publish.release import diff, group_splits, verify
from corpus.publish.rows import ReleaseRows, article_rows, config_rows
from corpus.publish.splits import SPLITS, SplitSpec, assign_group_splits
from corpus.publish.stats import add_counts, agreement, label_counts, label_studio, prelabelers
from corpus.publish.tokens import COUNT_FIELDS, add_alignment, alignment_counts
from corpus.publish.validate import check_annotations
from corpus.runner import Engine, Stage, map_tables
from corpus.workspace import Workspace

TMP_PREFIX = ".tmp-"
# Sentences are written in chunks of whole articles of about this many rows (one row group each)
CHUNK_ROWS = 65_536
# and sent to the runner in batches of whole articles of about this many: a worker's memory
# follows its batch, and a few batches are in flight per worker.
BATCH_ROWS = 4096
ROW_GROUP = 65_536
COMPRESSION = "zstd"


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
    warnings: list[str] = field(default_factory=list)


def publish(
    ws: Workspace,
    version: str,
    message: str = "",
    *,
    license: str | None = None,
    baseline: bool | None = None,
    on_step: Callable[[str], None] | None = None,
    engine: Engine | None = None,
) -> PublishReport:
    """Build `releases/VERSION/` from the workspace's annotations (see the module docstring).

    `license`: the release licence (SPDX id), overriding the one derived from the sources.
    `baseline`: train and score the baseline model (default: `[publish] baseline`, else yes).
    `engine`: where the tokens, events and documents rows are built (`corpus.runner`; default:
    in this process). The release is the same byte for byte whatever the engine.
    """
    step = on_step or (lambda _msg: None)
    version_key(version)
    if license is not None:
        check_license(license, "--license")
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
    check_annotations(ws)  # a hand-edited or damaged file never reaches a release
    releases.mkdir(parents=True, exist_ok=True)
    _cleanup_stale(releases)
    tmp = releases / f"{TMP_PREFIX}{version}-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        report = _build(ws, version, message, tmp, step, license, baseline, engine)
        step("verifying")
        problems = verify(tmp).problems
        if problems:
            raise ReleaseError(
                "The release failed its own verification: " + "; ".join(problems[:5]),
                "This is a bug in corpus publish; please report it with the workspace.",
            )
        make_read_only(tmp)  # before the rename: the version appears read-only at once
        try:
            os.rename(tmp, final)
        except OSError as e:
            raise ReleaseError(
                f"Release {version} appeared while publishing (another publish?).",
                "Publish a new version.",
            ) from e
    except BaseException:
        if tmp.exists():
            make_writable(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report.path = final
    return report


@dataclass
class _Written:
    """What writing the configs produced: per config and split, rows and bytes; label counts."""

    rows: dict[str, dict[str, int]]
    nbytes: dict[str, dict[str, int]]
    counts: dict[str, dict[str, dict[str, int]]]
    alignment: dict[str, dict[str, int]]


def _build(
    ws: Workspace,
    version: str,
    message: str,
    out: Path,
    step: Callable[[str], None],
    license: str | None = None,
    baseline: bool | None = None,
    engine: Engine | None = None,
) -> PublishReport:
    """The steps of a publish, in order; each one's inputs and outputs are explicit."""
    from corpus.ontology import load_ontology
    from corpus.pull.adjudication import workspace_policy

    ontology = load_ontology(ws.ontology_path)
    spec = SplitSpec.from_config(ws.section("splits"))
    policy, reviewer = workspace_policy(ws)  # checked; a Label Studio user id becomes its pseudonym

    step("adjudicating annotations")
    adj, excluded = _adjudicate(ws, ontology, policy, reviewer)
    step("joining sentences and articles")
    table, articles = _sentence_table(ws, adj)
    # Before the long writing step: a licence conflict is known from the articles alone.
    sources, lic = _licence(ws, articles, license)
    prev = previous_version(ws.releases_dir, version)
    order, split_sorted, assignment = _order(
        table, articles, spec, _previous_splits(ws, prev, spec)
    )
    # Ray's input is staged where every node reads it, as ingest's (removed after use).
    staging = ws.staging("publish")
    written = _write_configs(
        out, table, articles, order, split_sorted, ontology, step, engine, staging
    )
    del table

    baseline_info = _baseline(ws, out, ontology, baseline, step)

    step("documenting")
    changes = None
    if prev:
        changes = diff(ws.releases_dir / prev, out, new_version=version).as_dict(limit=20)
    info = {
        "version": version,
        "message": message,
        "previous_version": prev,
        "tool": {"name": "corpus", "version": corpus.__version__},
        "workspace": ws.section("workspace").get("name", ws.root.name),
        "ontology": _ontology_info(ontology),
        "license": lic,
        "sources": sources,
        "label_studio": label_studio(ws),
        "adjudication": {"policy": policy, "reviewer": reviewer},
        "splits": {
            **spec.as_dict(),
            "by": "dup_group",
            "hash": "blake2b(seed, dup_group)",
            "groups_kept_from_previous": assignment["kept"],
            "groups_moved_to_fill": assignment["moved"],
        },
        "annotators": adj.annotators,
        "agreement": agreement(adj.multi, _shared(adj)),
        "prelabelers": prelabelers(ws),
        "excluded": excluded,
        "baseline": baseline_info,
        "token_alignment": written.alignment,
        "label_counts": written.counts,
        "rows": written.rows,
        "bytes": written.nbytes,
        "changes": changes,
        "publish": ws.section("publish"),
        "configs": _config_entries(ontology, written.rows),
    }
    step("drawing the report")
    info["report"] = _write_report(ws, out, info)
    features = release_features(list(ontology.entity_types), list(ontology.event_types))
    (out / CARD).write_text(dataset_card(info, features), encoding="utf-8")
    manifest = write_manifest(out, {k: v for k, v in info.items() if k != "publish"})
    report = PublishReport(
        version, out, written.rows, written.alignment, excluded, prev, changes, manifest
    )
    if changes and not any(changes[k] for k in ("added", "removed", "relabelled", "moved_split")):
        report.warnings.append(
            f"Nothing changed since {prev}: the same sentences, labels and splits "
            "(only the card or the tool version may differ)."
        )
    return report


def _licence(
    ws: Workspace, articles: pa.Table, chosen: str | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The sources of the published articles and the release licence (see `licenses`)."""
    sources = source_counts(articles)
    configured = ws.section("publish").get("license")
    how = "--license" if chosen else "[publish] license in corpus.toml"
    return sources, release_license(sources, chosen or configured, how)


def _baseline(
    ws: Workspace, out: Path, ontology: Any, wanted: bool | None, step: Callable[[str], None]
) -> dict[str, Any]:
    if wanted is None:
        wanted = bool(ws.section("publish").get("baseline", True))
    if not wanted:
        return not_computed("turned off (--no-baseline or [publish] baseline = false)")
    step("training the baseline model")
    return baseline_scores(out, ontology)


def _ontology_info(ontology: Any) -> dict[str, Any]:
    return {
        "name": ontology.name,
        "hash": ontology.hash,
        "entity_types": list(ontology.entity_types),
        "event_types": {k: list(v) for k, v in ontology.event_types.items()},
    }


def _shared(adj: Adjudicated) -> int:
    """Sentences annotated by more than one annotator."""
    return int(pc.sum(pc.greater(adj.annotators_per_sentence["annotators"], 1)).as_py() or 0)


def _write_report(ws: Workspace, out: Path, info: dict[str, Any]) -> dict[str, Any]:
    """The release's report page and its main plots as PNG (`report/`); what the card shows."""
    from corpus.publish.report import MAIN_PLOTS, PAGE, REPORT_DIR, build_report, write_report

    rep = build_report(ws, out, info)
    write_report(rep, out / REPORT_DIR, MAIN_PLOTS)
    return {
        "page": f"{REPORT_DIR}/{PAGE}",
        "plots": [
            {
                "name": p.name,
                "title": p.title,
                "png": f"{REPORT_DIR}/{p.name}.png" if p.png and p.name in MAIN_PLOTS else None,
                "note": p.note,
            }
            for p in rep.plots
        ],
    }


def _config_entries(ontology: Any, rows: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Each config's features and its non-empty split files, as the manifest lists them."""
    features = release_features(list(ontology.entity_types), list(ontology.event_types))
    return {
        name: {
            "features": features[name].to_dict(),
            "files": {s: f"{name}/{s}.parquet" for s in SPLITS if rows[name][s]},
        }
        for name in CONFIGS
    }


# --- step 1: one adjudicated annotation per sentence ----------------------------------------------


def _adjudicate(
    ws: Workspace, ontology: Any, policy: str, reviewer: str | None
) -> tuple[Adjudicated, dict[str, int]]:
    """Adjudicated annotations without "noise" sentences (not training data), labels checked
    against the ontology; `adj.chosen` holds the rows kept."""
    adj = adjudicated(ws.annotations_path, policy, reviewer)
    chosen = adj.chosen
    noise = pc.fill_null(pc.equal(chosen["choice"], "noise"), False)
    excluded = {"noise": int(pc.sum(noise).as_py() or 0), "cancelled_only": adj.cancelled_only}
    if excluded["noise"]:
        adj.chosen = chosen = chosen.filter(pc.invert(noise))
    check_labels(chosen, ontology)
    del chosen
    pa.default_memory_pool().release_unused()
    return adj, excluded


# --- step 2: the sentences config's rows ----------------------------------------------------------


def _sentence_table(ws: Workspace, adj: Adjudicated) -> tuple[pa.Table, pa.Table]:
    """Rows of the sentences config (unordered) and the articles they come from.

    Sentence text and position, article and group are joined by key, never by position.
    `adj.chosen` is released once used (it is the largest input).
    """
    chosen, adj.chosen = adj.chosen, None  # one reference: the table below replaces it
    sids = chosen["sentence_id"].combine_chunks()
    sent = _join_sentences(ws, sids, chosen["sentence_text"].combine_chunks())
    have = set(read_schema(ws.articles_path).names)
    articles = read_table(
        ws.articles_path,
        columns=["article_id", "title", "text", "url", "published_at", "dup_group", "source"]
        + (["license"] if "license" in have else []),  # files from before licences: unknown
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
    per = adj.annotators_per_sentence
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
    return table, articles


# --- step 3: splits and a fixed row order ----------------------------------------------------------


def _previous_splits(ws: Workspace, prev: str | None, spec: SplitSpec) -> dict[str, str] | None:
    """Group -> split of the previous version, if it split groups by the same hash rule."""
    if prev is None:
        return None
    path = ws.releases_dir / prev
    if not spec.same_hash_rule(read_manifest(path).get("splits", {})):
        return None  # [splits] changed: the user asked for a reshuffle
    return group_splits(path)


def _order(
    table: pa.Table, articles: pa.Table, spec: SplitSpec, previous: dict[str, str] | None
) -> tuple[pa.Array, pa.Array, dict[str, int]]:
    """Row order (article, then position in it), the split of each row in that order, and how
    many groups kept their previous split or were moved to fill a small split.

    A fixed order makes the files byte-reproducible; articles are ranked once so the sort
    itself is on integers.
    """
    split_of_row, assignment = assign_group_splits(table["group"], spec, previous)
    ranked = pc.take(articles["article_id"], pc.sort_indices(articles["article_id"]))
    article_rank = pc.index_in(table["article_id"], value_set=ranked).to_numpy()
    order = pa.array(np.lexsort((table["index"].to_numpy(), article_rank)))
    return order, pc.take(split_of_row, order), assignment


# --- step 4: every config, split by split ----------------------------------------------------------


def _write_configs(
    out: Path,
    table: pa.Table,
    articles: pa.Table,
    order: pa.Array,
    split_sorted: pa.Array,
    ontology: Any,
    step: Callable[[str], None],
    engine: Engine | None = None,
    staging: Any = None,
) -> _Written:
    """Write each config's split files in chunks of whole articles (memory stays flat).

    Each chunk's tokens, events and documents rows come from the `rows.ReleaseRows` stage on the
    runner (`engine`; None: in this process; `staging`: where Ray's input is staged). Results
    come back in input order and each chunk is written as one piece, so every file is the same
    byte for byte whatever the engine and number of workers.
    """
    features = release_features(list(ontology.entity_types), list(ontology.event_types))
    schemas = {name: f.arrow_schema for name, f in features.items()}
    alignment = {k: dict.fromkeys(COUNT_FIELDS, 0) for k in ("entities", "triggers")}
    rows: dict[str, dict[str, int]] = {c: dict.fromkeys(SPLITS, 0) for c in CONFIGS}
    nbytes: dict[str, dict[str, int]] = {c: dict.fromkeys(SPLITS, 0) for c in CONFIGS}
    counts = {s: {k: {} for k in ("entities", "events", "roles", "choices")} for s in SPLITS}
    # An empty split gets no chunk, so no file and no card entry (`datasets` cannot load one).
    chunks = [
        (split, idx, n_articles)
        for split in SPLITS
        for idx, n_articles in _article_chunks(table, order.filter(pc.equal(split_sorted, split)))
    ]
    total = {s: sum(len(idx) for split, idx, _ in chunks if split == s) for s in SPLITS}
    batches = (b for _, idx, _ in chunks for b, _ in _article_chunks(table, idx, BATCH_ROWS))

    def sentence_rows(idx: pa.Array) -> pa.Table:
        return table.take(idx).cast(schemas["sentences"])

    # Inputs are made as the runner asks for them. The driver takes each chunk's sentences again
    # when writing it, rather than holding every chunk while Ray's input is staged.
    stage = Stage(
        ReleaseRows,
        {"entity_types": list(ontology.entity_types), "event_types": list(ontology.event_types)},
    )
    inputs = (article_rows(sentence_rows(idx), articles) for idx in batches)
    if engine is None:
        results: Iterable[pa.Table] = map(stage.make(), inputs)
    else:
        results = map_tables(stage, inputs, engine=engine, staging=staging)
    writers: dict[str, pq.ParquetWriter] = {}
    current, done = None, 0
    try:
        # Parquet encoding runs in threads (it releases the GIL), one per config file, while
        # the next chunk comes in. A chunk's writes end before the next chunk's start, so each
        # file's row order is fixed and one chunk is in flight at most (memory stays bounded).
        with ThreadPoolExecutor(max_workers=len(CONFIGS)) as pool:
            pending: list = []
            sizes = [n for _, _, n in chunks]
            for (split, idx, _), built in zip(chunks, _per_chunk(results, sizes), strict=True):
                if split != current:
                    for f in pending:
                        f.result()
                    pending = []
                    _close(writers)
                    writers = {
                        c: _writer(out / c / f"{split}.parquet", schemas[c]) for c in CONFIGS
                    }
                    current, done = split, 0
                    step(f"writing {split} ({total[split]:,} sentences)")
                part = sentence_rows(idx)
                add_counts(counts[split], label_counts(part))
                add_alignment(alignment, alignment_counts(built))
                parts = {
                    "sentences": part,
                    "tokens": config_rows(built, "tokens", schemas["tokens"]),
                    "events": config_rows(built, "events", schemas["events"]),
                    "documents": config_rows(built, "document", schemas["documents"]),
                }
                del built
                for f in pending:
                    f.result()
                pending = [
                    pool.submit(_write_part, writers[c], t, rows[c], nbytes[c], split)
                    for c, t in parts.items()
                ]
                done += part.num_rows
                del part, parts
                step(f"writing {split} ({total[split]:,} sentences): {done:,} built")
            for f in pending:
                f.result()
    finally:
        _close(writers)
    return _Written(rows, nbytes, counts, alignment)


def _per_chunk(results: Iterable[pa.Table], sizes: list[int]) -> Iterator[pa.Table]:
    """The runner's output put back together into the chunks to write (`sizes` rows each, in
    order), whatever the batches it came back in (Ray may cut and merge them)."""
    it = iter(results)
    buf: list[pa.Table] = []
    have = 0
    for size in sizes:
        while have < size:
            t = next(it, None)
            if t is None:
                raise RuntimeError("the runner returned fewer rows than it was sent")
            buf.append(t)
            have += t.num_rows
        whole = buf[0] if len(buf) == 1 else pa.concat_tables(buf)
        yield whole.slice(0, size)
        rest = whole.slice(size)
        buf, have = ([rest] if rest.num_rows else []), have - size
    if have or next(it, None) is not None:  # (and running the runner to its end shuts it down)
        raise RuntimeError("the runner returned more rows than it was sent")


def _close(writers: dict[str, pq.ParquetWriter]) -> None:
    for w in writers.values():
        w.close()


# --- helpers ---------------------------------------------------------------------------------------


def _cleanup_stale(releases_dir: Path) -> None:
    """Remove temporary folders left by a publish that was killed (its process is gone)."""
    for p in releases_dir.glob(TMP_PREFIX + "*"):
        m = re.match(re.escape(TMP_PREFIX) + r".*-(\d+)-[0-9a-f]+$", p.name)
        if not m:
            continue
        pid = int(m[1])
        if pid == os.getpid() or not alive(pid):  # ours: a publish in this process that failed
            make_writable(p)  # it may have been made read-only just before it was killed
            shutil.rmtree(p, ignore_errors=True)


def _writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Statistics and dictionary pages are deterministic; nothing time-dependent is written.
    return pq.ParquetWriter(path, schema, compression=COMPRESSION)


def _examples(ids: pa.Array, mask: pa.Array, n: int = 3) -> str:
    return ", ".join(map(str, ids.filter(mask).slice(0, n).to_pylist()))


def _array(x: pa.Array | pa.ChunkedArray) -> pa.Array:
    return x.combine_chunks() if isinstance(x, pa.ChunkedArray) else x


def _join_sentences(ws: Workspace, sids: pa.Array, annotated_text: pa.Array) -> pa.Table:
    """Sentence rows for `sids`, in that order; errors if any is missing or its text changed."""
    sentences = read_table(
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


def _article_chunks(
    table: pa.Table, idx: pa.Array, size: int | None = None
) -> Iterator[tuple[pa.Array, int]]:
    """`idx` (rows of `table`, sorted by article) in pieces of about `size` rows (default
    `CHUNK_ROWS`), each ending at an article boundary: (the piece, its number of articles)."""
    size = size or CHUNK_ROWS
    n = len(idx)
    if n == 0:
        return
    art = _array(pc.take(table["article_id"], idx))
    change = pc.not_equal(art.slice(1), art.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    first = np.concatenate(([0], np.flatnonzero(change) + 1, [n]))  # article starts, then n
    lo = 0
    while lo < n:
        cut = int(np.searchsorted(first, min(lo + size, n), side="left"))  # next article start
        hi = int(first[cut])
        yield idx.slice(lo, hi - lo), cut - int(np.searchsorted(first, lo, side="left"))
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
