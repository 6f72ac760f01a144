"""Pure functions that turn stage files into Label Studio tasks with pre-labels.

Nothing here talks to Label Studio (corpus/labelstudio.py does); everything is testable from
fixture files. The flow for a push, top to bottom:

1. ``plan_push`` picks which sentences go, in which order: predicted-event sentences first
   (annotators see the most useful tasks first), optionally only those, a seeded sample or the
   first N; sentences already in the project are left out afterwards, so `--limit 100` run twice
   sends the same 100 once.
2. ``iter_task_batches`` builds the tasks of the plan batch by batch: the sentence, its article's
   title, the neighbouring sentences as read-only context, and the predictions in Label Studio's
   result format.
3. ``check_spans`` validates every predicted span first (the server does not): offsets in range
   and on character (grapheme) boundaries, label of the right kind in the ontology. A bad span
   is left out of the prediction and reported (quarantined by the caller); the task still goes.

Offsets are code points into the sentence text, which is what Label Studio's text regions count.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import regex

from corpus.ids import content_id
from corpus.ontology import Ontology, validate_spans
from corpus.types import Span

# Names fixed by the labeling-config contract (corpus/ontology.py generates the config).
TEXT_OBJECT = "text"
ENTITY_CONTROL = "entities"
TRIGGER_CONTROL = "triggers"
CONTROL_FOR_KIND = {"entity": ENTITY_CONTROL, "trigger": TRIGGER_CONTROL}
TASK_DATA_KEYS = ("text", "sentence_id", "article_id", "title", "context_before", "context_after")

_GRAPHEME = regex.compile(r"\X")
_SPAN_FIELDS = ("start", "end", "label", "kind", "score", "source")
# "Simple" characters: never Extend, SpacingMark, ZWJ, Prepend, CR, regional indicator, Hangul or
# pictographic, so UAX #29 puts a boundary between two of them. Printable ASCII, Arabic letters
# (not marks) and digits, tatweel, Arabic punctuation, spaces, LRM/RLM, a few quotes/dashes.
_COMPLEX = regex.compile(
    r"[^\u0020-\u007e\u00a0\u00ab\u00bb\u060c\u061b\u061f\u0621-\u064a\u0660-\u066d"
    r"\u0671-\u06d3\u06f0-\u06f9\u200e\u200f\u2013\u2014\u2018\u2019\u201c\u201d\u2026\n\t]"
)
_JOINS_PREVIOUS = regex.compile(r"[\p{GCB=Extend}\p{GCB=SpacingMark}\p{GCB=ZWJ}]")
_PREPEND = regex.compile(r"\p{GCB=Prepend}")
_CONTROL = regex.compile(r"[\p{GCB=Control}\p{GCB=CR}\p{GCB=LF}]")


@dataclass(frozen=True)
class Selection:
    """Which sentences a push sends: all, only predicted-event ones, a seeded sample, first N.

    `ranker` (used by `--select`, see corpus.train.select) orders the sentences not yet in the
    project: given the sentences table and candidate row positions, it returns them in the order
    to send; `limit` then keeps the first N of that order."""

    limit: int | None = None
    sample: int | None = None
    seed: int = 0
    only_with_events: bool = False
    ranker: Callable[[pa.Table, np.ndarray], np.ndarray] | None = None


@dataclass
class RejectedSpan:
    """A predicted span left out of a task's prediction, with why."""

    sentence_id: str
    span: dict[str, Any]
    reason: str


@dataclass
class TaskBatch:
    tasks: list[dict[str, Any]]
    sentence_ids: list[str]
    rejected: list[RejectedSpan] = field(default_factory=list)
    with_predictions: int = 0


@dataclass
class PushPlan:
    """Row positions (into the sentences table) to send, in order, and the counts behind them."""

    positions: np.ndarray
    total: int  # sentences in the workspace
    selected: int  # after --only-with-events / --sample / --limit
    already: int  # selected sentences already in the project
    with_events: int  # of those to send, how many have a predicted trigger

    @property
    def to_send(self) -> int:
        return len(self.positions)


# --- per item: one span, one prediction, one task ---------------------------------------------


def grapheme_boundaries(text: str) -> set[int]:
    """Offsets where a user-perceived character starts or ends (a letter with its diacritics)."""
    bounds = {0}
    for m in _GRAPHEME.finditer(text):
        bounds.add(m.end())
    return bounds


class _Boundaries:
    """`p in b`: is offset p a grapheme boundary of the text? Decided from the two characters
    around p when one of them is a simple character (UAX #29: nothing joins a simple character
    except a following mark/ZWJ or a preceding Prepend); the whole text is walked only for
    the rare rest (between a mark and an emoji, inside flag pairs, ...)."""

    def __init__(self, text: str):
        self.text = text
        self._walked: set[int] | None = None

    def __contains__(self, p: int) -> bool:
        text = self.text
        if p <= 0 or p >= len(text):
            return p == 0 or p == len(text)
        a, b = text[p - 1], text[p]
        if _CONTROL.match(a) or _CONTROL.match(b):  # GB3-5: controls stand alone but CR LF
            return not (a == "\r" and b == "\n")
        simple_a, simple_b = not _COMPLEX.match(a), not _COMPLEX.match(b)
        if simple_a and simple_b:
            return True
        if simple_a:
            return not _JOINS_PREVIOUS.match(b)
        if simple_b:
            return not _PREPEND.match(a)
        if self._walked is None:
            self._walked = grapheme_boundaries(text)
        return p in self._walked


def check_spans(
    spans: Sequence[Mapping[str, Any]], text: str, ontology: Ontology
) -> tuple[list[Span], list[tuple[Mapping[str, Any], str]]]:
    """Split predicted spans into (good, [(bad, reason)]) for `text`.

    The ontology's rules (offsets in range, no edge whitespace, label of the right kind, finite
    score, no repeats) plus one of ours: both ends on a character boundary, so no span cuts a
    letter from its diacritics (Label Studio would show a region the annotator cannot select).
    """
    objs, bad = [], []
    for d in spans:
        try:
            objs.append(Span(**{k: d.get(k) for k in _SPAN_FIELDS}))
        except TypeError as e:  # pragma: no cover - the Arrow schema fixes the keys
            bad.append((d, f"not a span: {e}"))
    good, invalid = validate_spans(objs, text, ontology)
    bad.extend((asdict(s), reason) for s, reason in invalid)
    bounds = _Boundaries(text)
    kept = []
    for s in good:
        if s.start in bounds and s.end in bounds:
            kept.append(s)
        else:
            bad.append(
                (
                    asdict(s),
                    f"span [{s.start}, {s.end}) cuts through a character (a letter and its "
                    f"marks): {text[max(0, s.start - 3) : s.end + 3]!r}",
                )
            )
    return kept, bad


def region_id(sentence_id: str, span: Span) -> str:
    """A stable region id, so the same prediction always yields the same region ids."""
    return content_id(sentence_id, span.start, span.end, span.kind, span.label, length=10)


def span_result(sentence_id: str, span: Span, text: str) -> dict[str, Any]:
    """One predicted span as a Label Studio `labels` result (code-point offsets)."""
    return {
        "id": region_id(sentence_id, span),
        "from_name": CONTROL_FOR_KIND[span.kind],
        "to_name": TEXT_OBJECT,
        "type": "labels",
        "value": {
            "start": span.start,
            "end": span.end,
            "text": text[span.start : span.end],
            "labels": [span.label],
        },
        "score": round(float(span.score), 4),
    }


def relation_problem(trigger: Span | None, entity: Span | None, role: Any, ontology: Ontology):
    """Why a predicted relation cannot be sent (None when it can): both ends must be valid
    spans, a trigger and an entity, and the role one the event type has and the entity type
    may fill (the project's pull validation rejects anything else)."""
    if trigger is None or entity is None:
        return "an end of the relation is not a valid span of the prediction"
    if trigger.kind != "trigger" or entity.kind != "entity":
        return f"joins a {trigger.kind} to a {entity.kind}, not a trigger to an entity"
    if role not in ontology.event_types.get(trigger.label, ()):
        return f"role {role!r} is not a role of {trigger.label}"
    if entity.label not in ontology.role_fillers.get(role, ()):
        return f"role {role!r} cannot be filled by {entity.label}"
    return None


def relation_result(sentence_id: str, trigger: Span, entity: Span, role: str) -> dict[str, Any]:
    """One predicted argument as a Label Studio relation between two predicted regions."""
    return {
        "type": "relation",
        "from_id": region_id(sentence_id, trigger),
        "to_id": region_id(sentence_id, entity),
        "direction": "right",
        "labels": [role],
    }


def build_prediction(
    sentence_id: str,
    text: str,
    spans: Sequence[Mapping[str, Any]],
    model_version: str,
    ontology: Ontology,
    relations: Sequence[Mapping[str, Any]] | None = None,
) -> tuple[dict[str, Any] | None, list[RejectedSpan]]:
    """A Label Studio prediction from validated spans (None when no span survives), with the
    predicted arguments (`relations`: trigger and entity as indexes into `spans`, and a role)
    as relations between its regions.

    The prediction's score is the lowest span score: Label Studio orders by it for
    uncertainty sampling, and a task is as uncertain as its least certain region.
    """
    good, bad = check_spans(spans, text, ontology)
    rejected = [RejectedSpan(sentence_id, dict(span), reason) for span, reason in bad]
    if not good:
        return None, rejected
    results = [span_result(sentence_id, s, text) for s in good]
    if relations:
        kept = {(s.start, s.end, s.label, s.kind): s for s in good}

        def span_at(i: Any) -> Span | None:
            if not isinstance(i, int) or not 0 <= i < len(spans):
                return None
            d = spans[i]
            return kept.get((d.get("start"), d.get("end"), d.get("label"), d.get("kind")))

        seen = set()
        for rel in relations:
            trigger, entity = span_at(rel.get("trigger")), span_at(rel.get("entity"))
            problem = relation_problem(trigger, entity, rel.get("role"), ontology)
            if problem is None and (trigger, entity, rel["role"]) in seen:
                problem = "the same relation twice"
            if problem:
                rejected.append(RejectedSpan(sentence_id, {"relation": dict(rel)}, problem))
                continue
            seen.add((trigger, entity, rel["role"]))
            results.append(relation_result(sentence_id, trigger, entity, rel["role"]))
    score = round(min(float(s.score) for s in good), 4)
    return {"model_version": model_version, "score": score, "result": results}, rejected


def _same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and " ".join(a.split()) == " ".join(b.split())


def shown_context(
    text: str, title: str | None, context_before: str | None, context_after: str | None
) -> tuple[str, str, str]:
    """Title and neighbours as the page shows them: no line twice. A headline sentence (its
    text is the title) is shown without the title above it; a neighbour that is the title is
    left out (the title line already shows it). Empty strings are hidden by the config."""
    title = "" if _same(title, text) else (title or "")
    before = "" if _same(context_before, title) else (context_before or "")
    after = "" if _same(context_after, title) else (context_after or "")
    return title, before, after


def build_task(
    sentence_id: str,
    article_id: str,
    text: str,
    title: str | None,
    context_before: str | None,
    context_after: str | None,
    prediction: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One task: the sentence to label, with its article title and neighbours as context."""
    title, context_before, context_after = shown_context(text, title, context_before, context_after)
    task: dict[str, Any] = {
        "data": {
            "text": text,
            "sentence_id": sentence_id,
            "article_id": article_id,
            "title": title,
            "context_before": context_before,
            "context_after": context_after,
        }
    }
    if prediction is not None:
        task["predictions"] = [prediction]
    return task


# --- over tables: which sentences, in which order ---------------------------------------------


def _sample_key(seed: int, sentence_id: str) -> int:
    digest = hashlib.blake2b(f"{seed}\x1f{sentence_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _numpy(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Integers or booleans without nulls as a (read-only) numpy array.

    Through DLPack because pyarrow's `to_numpy`, `pa.array` and `pa.scalar` import pandas
    (~0.35 s, a fifth of a `corpus project push` that has nothing to send).
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_boolean(values.type):  # bit-packed: DLPack needs a byte per value
        return np.from_dlpack(values.cast(pa.uint8())).astype(bool)
    return np.from_dlpack(values)


def _arrow_int64(values: np.ndarray) -> pa.Array:
    """A numpy integer array as an Arrow int64 array (without `pa.array`: see `_numpy`)."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def event_flags(sentences: pa.Table, predictions: pa.Table | None) -> np.ndarray:
    """Per sentence row: does its prediction hold at least one trigger span?"""
    flags = np.zeros(sentences.num_rows, dtype=bool)
    if predictions is None or predictions.num_rows == 0 or sentences.num_rows == 0:
        return flags
    spans = predictions.column("spans").combine_chunks()
    kinds = pc.struct_field(pc.list_flatten(spans), "kind")
    parents = _numpy(pc.list_parent_indices(spans))
    # match_like without wildcards is equality; and_kleene(x, valid) turns nulls into False.
    trigger = pc.match_like(kinds, "trigger")
    is_trigger = _numpy(pc.and_kleene(trigger, pc.is_valid(trigger)))
    pred_has = np.zeros(predictions.num_rows, dtype=bool)
    pred_has[parents[is_trigger]] = True
    where = pc.index_in(
        sentences.column("sentence_id"), value_set=predictions.column("sentence_id")
    )
    # -1: the sentence has no prediction row
    none = _arrow_int64(np.full(sentences.num_rows, -1))
    where_np = _numpy(pc.coalesce(where.cast(pa.int64()), none))
    found = where_np >= 0
    flags[found] = pred_has[where_np[found]]
    return flags


def plan_push(
    sentences: pa.Table,
    predictions: pa.Table | None,
    existing: set[str] | frozenset[str],
    selection: Selection = Selection(),
) -> PushPlan:
    """Which sentence rows to send, in order: events first, then file order.

    Selection (only-with-events, sample, limit) is applied to *all* sentences before leaving
    out those already in the project, so re-running the same command sends nothing new.
    """
    n = sentences.num_rows
    events = event_flags(sentences, predictions)
    candidates = np.arange(n)
    ids_col = sentences.column("sentence_id")
    if n and pc.count_distinct(ids_col).as_py() != n:
        # A sentence listed twice would become two tasks: keep its first row only.
        _, first = np.unique(np.array(ids_col.to_pylist(), dtype=object), return_index=True)
        candidates = np.sort(first)
    if selection.only_with_events:
        candidates = candidates[events[candidates]]
    if selection.ranker is not None:
        # Active learning ranks what is not yet in the project: each push sends the next best.
        already = 0
        if existing and len(candidates):
            ids = sentences.column("sentence_id").take(_arrow_int64(candidates)).to_pylist()
            keep = np.fromiter((s not in existing for s in ids), dtype=bool, count=len(ids))
            already = int((~keep).sum())
            candidates = candidates[keep]
        candidates = np.asarray(selection.ranker(sentences, candidates), dtype=np.int64)
        if selection.limit is not None:
            candidates = candidates[: selection.limit]
        return PushPlan(
            positions=candidates,
            total=n,
            selected=len(candidates) + already,
            already=already,
            with_events=int(events[candidates].sum()),
        )
    if selection.sample is not None and selection.sample < len(candidates):
        ids = sentences.column("sentence_id").to_pylist()
        keys = np.array([_sample_key(selection.seed, ids[i]) for i in candidates], np.uint64)
        chosen = np.argsort(keys, kind="stable")[: selection.sample]
        candidates = np.sort(candidates[chosen])
    # Events first; within each group the file order (article by article, sentence by sentence).
    candidates = candidates[np.argsort(~events[candidates], kind="stable")]
    if selection.limit is not None:
        candidates = candidates[: selection.limit]
    selected = len(candidates)
    if existing and selected:
        ids = sentences.column("sentence_id").take(_arrow_int64(candidates)).to_pylist()
        keep = np.fromiter((s not in existing for s in ids), dtype=bool, count=len(ids))
        candidates = candidates[keep]
    return PushPlan(
        positions=candidates,
        total=n,
        selected=selected,
        already=selected - len(candidates),
        with_events=int(events[candidates].sum()),
    )


def neighbours(sentences: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of each sentence's previous and next sentence in its article (-1: none)."""
    n = sentences.num_rows
    before = np.full(n, -1, dtype=np.int64)
    after = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return before, after
    art = pc.dictionary_encode(sentences.column("article_id")).combine_chunks().indices
    art_np = art.to_numpy(zero_copy_only=False).astype(np.int64)
    idx_np = sentences.column("index").to_numpy().astype(np.int64)
    order = np.lexsort((idx_np, art_np))
    a, i = art_np[order], idx_np[order]
    adjacent = (a[1:] == a[:-1]) & (i[1:] == i[:-1] + 1)
    before[order[1:][adjacent]] = order[:-1][adjacent]
    after[order[:-1][adjacent]] = order[1:][adjacent]
    return before, after


def _take_text(column: pa.ChunkedArray, positions: np.ndarray) -> list[str | None]:
    safe = np.where(positions >= 0, positions, 0)
    values = column.take(pa.array(safe, pa.int64())).to_pylist()
    return [v if p >= 0 else None for v, p in zip(values, positions, strict=True)]


def iter_task_batches(
    sentences: pa.Table,
    predictions: pa.Table | None,
    articles: pa.Table | None,
    plan: PushPlan,
    ontology: Ontology,
    batch_size: int = 2000,
) -> Iterator[TaskBatch]:
    """The plan's tasks, `batch_size` at a time, with predictions validated and attached."""
    # One chunk per column: `take` on many small Parquet chunks costs more than the copy.
    sentences = sentences.combine_chunks()
    predictions = predictions.combine_chunks() if predictions is not None else None
    before, after = neighbours(sentences)
    text_col = sentences.column("text")
    if predictions is not None and predictions.num_rows:
        pred_pos = pc.index_in(
            sentences.column("sentence_id"), value_set=predictions.column("sentence_id")
        )
    else:
        pred_pos = None
    if articles is not None and articles.num_rows:
        title_pos = pc.index_in(
            sentences.column("article_id"), value_set=articles.column("article_id")
        )
    else:
        title_pos = None
    for lo in range(0, plan.to_send, batch_size):
        pos = plan.positions[lo : lo + batch_size]
        take = pa.array(pos, pa.int64())
        rows = sentences.select(["sentence_id", "article_id", "text"]).take(take).to_pylist()
        befores = _take_text(text_col, before[pos])
        afters = _take_text(text_col, after[pos])
        titles: list[str | None] = [None] * len(pos)
        if title_pos is not None:
            tp = title_pos.take(take)
            titles = articles.column("title").take(tp).to_pylist()
        preds: list[dict | None] = [None] * len(pos)
        if pred_pos is not None:
            pp = pred_pos.take(take)
            cols = ["spans", "model_version"]
            if "relations" in predictions.column_names:  # files from before arguments lack it
                cols.append("relations")
            preds = predictions.select(cols).take(pp).to_pylist()
        batch = TaskBatch(tasks=[], sentence_ids=[])
        for row, title, b, a, pred in zip(rows, titles, befores, afters, preds, strict=True):
            prediction = None
            if pred is not None and pred.get("spans"):
                prediction, rejected = build_prediction(
                    row["sentence_id"],
                    row["text"],
                    pred["spans"],
                    pred["model_version"],
                    ontology,
                    pred.get("relations"),
                )
                batch.rejected.extend(rejected)
                batch.with_predictions += prediction is not None
            batch.tasks.append(
                build_task(
                    row["sentence_id"], row["article_id"], row["text"], title, b, a, prediction
                )
            )
            batch.sentence_ids.append(row["sentence_id"])
        yield batch
