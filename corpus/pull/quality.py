"""Pre-label quality: did annotators keep, fix or throw away the pre-labels?

For each annotation that started from a prediction, the sentence's predicted spans are matched to
the annotated spans (entities and triggers separately):

1. accepted: a predicted span the annotation holds unchanged (same start, end and label);
2. changed: a remaining predicted span overlapped by a remaining annotated span of the same kind
   (boundary or label fixed; one-to-one);
3. deleted: a predicted span with nothing left overlapping it;
4. added: an annotated span left over (the annotator had to draw it).

Counts are per label: the predicted label for 1-3, the annotated label for 4.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from corpus.io import dataset, exists
from corpus.pull.adjudication import MAJORITY_ANNOTATOR, is_review_decision

Key = tuple[str, str]  # kind, label
SpanT = tuple[int, int, str, str]  # start, end, kind, label


@dataclass(slots=True)
class Outcome:
    """Per-label counts for one or many annotations."""

    accepted: Counter = field(default_factory=Counter)
    changed: Counter = field(default_factory=Counter)
    deleted: Counter = field(default_factory=Counter)
    added: Counter = field(default_factory=Counter)

    def update(self, other: Outcome) -> None:
        for name in ("accepted", "changed", "deleted", "added"):
            getattr(self, name).update(getattr(other, name))


def compare(predicted: list[SpanT], annotated: list[SpanT]) -> Outcome:
    """What happened to each predicted span of one sentence in one annotation."""
    out = Outcome()
    pred = sorted(set(predicted))
    ann = sorted(set(annotated))
    exact = set(pred) & set(ann)
    for s in exact:
        out.accepted[s[2], s[3]] += 1
    left_ann = [a for a in ann if a not in exact]
    used = [False] * len(left_ann)
    for p in (p for p in pred if p not in exact):
        for j, a in enumerate(left_ann):
            if not used[j] and a[2] == p[2] and a[0] < p[1] and p[0] < a[1]:
                used[j] = True
                out.changed[p[2], p[3]] += 1
                break
        else:
            out.deleted[p[2], p[3]] += 1
    for j, a in enumerate(left_ann):
        if not used[j]:
            out.added[a[2], a[3]] += 1
    return out


def annotated_spans(row: dict) -> list[SpanT]:
    return [(e["start"], e["end"], "entity", e["label"]) for e in row["entities"]] + [
        (t["start"], t["end"], "trigger", t["event_type"]) for t in row["triggers"]
    ]


def load_predictions(path: Path, sentence_ids: set[str]) -> dict[str, list[SpanT]]:
    """sentence_id -> predicted spans, for the given sentences."""
    if not sentence_ids or not exists(path):
        return {}
    table = dataset(path, format="parquet").to_table(
        columns=["sentence_id", "spans"],
        filter=pc.field("sentence_id").isin(pa.array(sorted(sentence_ids), pa.string())),
    )
    return {
        sid: [(s["start"], s["end"], s["kind"], s["label"]) for s in spans]
        for sid, spans in zip(
            table.column("sentence_id").to_pylist(), table.column("spans").to_pylist(), strict=True
        )
    }


def quality_report(annotations: pa.Table, predictions_path: Path) -> dict[str, Any]:
    """Per-label accepted / changed / deleted / added counts (module docstring), as a dict.

    Annotations that started from a prediction (`prediction_id` set) are compared; when none
    did (e.g. predictions were hidden from annotators), every submitted annotation of a sentence
    with predictions is, and `basis` says so.
    """
    rows = [
        r
        for r in annotations.to_pylist()
        if not r["cancelled"] and not is_review_decision(r) and r["annotator"] != MAJORITY_ANNOTATOR
    ]
    predicted = load_predictions(predictions_path, {r["sentence_id"] for r in rows})
    started = [r for r in rows if r["prediction_id"] is not None]
    basis = "annotations started from a prediction"
    if not started:
        started = [r for r in rows if r["sentence_id"] in predicted]
        basis = "all submitted annotations of pre-labelled sentences (none records its prediction)"
    total = Outcome()
    compared = 0
    for r in started:
        if r["sentence_id"] not in predicted:
            continue
        compared += 1
        total.update(compare(predicted[r["sentence_id"]], annotated_spans(r)))
    keys = sorted(set(total.accepted) | set(total.changed) | set(total.deleted) | set(total.added))
    labels = []
    for kind, label in keys:
        k = (kind, label)
        n_pred = total.accepted[k] + total.changed[k] + total.deleted[k]
        labels.append(
            {
                "kind": kind,
                "label": label,
                "predicted": n_pred,
                "accepted": total.accepted[k],
                "changed": total.changed[k],
                "deleted": total.deleted[k],
                "added": total.added[k],
                "accept_rate": round(total.accepted[k] / n_pred, 4) if n_pred else None,
            }
        )
    sums = {
        name: sum(getattr(total, name).values())
        for name in ("accepted", "changed", "deleted", "added")
    }
    n_pred = sums["accepted"] + sums["changed"] + sums["deleted"]
    return {
        "basis": basis,
        "annotations_compared": compared,
        "annotations_submitted": len(rows),
        "labels": labels,
        "overall": {
            "predicted": n_pred,
            **sums,
            "accept_rate": round(sums["accepted"] / n_pred, 4) if n_pred else None,
        },
    }
