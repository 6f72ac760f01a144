"""Baseline scores of a release: the bar a model team has to beat.

The default learned model (`corpus.train`, CRF backend, the same features as `corpus train`) is
trained on the release's train split; entity and trigger spans are scored on validation and test
with exact matching (start, end and label, `corpus.train.evaluate`). Arguments are predicted
end-to-end on the model's own spans by the argument pre-labeler (`corpus.prelabel.arguments`:
the learned one when train holds at least `MIN_LEARNED_ARGUMENTS` annotated arguments, else the
rules); a predicted argument counts when its role, its entity span (start, end) and its trigger
(start, end, event type) all match a gold argument.

Large releases train on a fixed sample (the first `max_train` sentences in id order: ids are
content hashes) and score on at most `max_eval` sentences per split, so publish time stays
bounded; the card and manifest say how many sentences were used. When scores cannot be computed (no train split, no
labelled span, the CRF library missing) the result says "not computed" and why: never a number.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

# A fixed-size sample: publish time must not grow with the corpus (training and scoring on
# 2,000 / 1,000 sentences took ~30 CPU seconds here).
MAX_TRAIN = 1_000
MAX_EVAL = 500
NOT_COMPUTED = "not computed"


def _read(release: Path, split: str, n: int) -> tuple[list[dict], int]:
    """At most `n` sentence rows of a split (the first by a hash of their id) and the split's
    size. Only the sampled rows become Python objects: a whole large split would not fit."""
    import pyarrow.compute as pc

    f = release / "sentences" / f"{split}.parquet"
    if not f.is_file():
        return [], 0
    ids = pq.read_table(f, columns=["id"])["id"].combine_chunks()
    columns = ["id", "group", "text", "entities", "events"]
    if len(ids) <= n:
        return pq.read_table(f, columns=columns).to_pylist(), len(ids)
    # Sentence ids are content hashes: the first n in id order are a fixed, unbiased sample.
    keep = pc.take(ids, pc.sort_indices(ids)).slice(0, n)
    t = pq.read_table(f, columns=columns, filters=pc.is_in(pc.field("id"), value_set=keep))
    t = t.take(pc.sort_indices(t["id"]))
    return t.to_pylist(), len(ids)


def _spans(row: dict) -> list:
    from corpus.types import Span

    out = [Span(e["start"], e["end"], e["label"], "entity") for e in row["entities"]]
    out += [
        Span(ev["trigger"]["start"], ev["trigger"]["end"], ev["event_type"], "trigger")
        for ev in row["events"]
    ]
    return out


def _gold_arguments(row: dict) -> set[tuple]:
    return {
        (
            ev["trigger"]["start"],
            ev["trigger"]["end"],
            ev["event_type"],
            a["start"],
            a["end"],
            a["role"],
        )
        for ev in row["events"]
        for a in ev["arguments"]
    }


def _argument_examples(rows: list[dict]) -> list:
    from corpus.prelabel.arguments import ArgumentExample

    out = []
    for r in rows:
        if not r["events"]:
            continue
        spans, where = [], {}
        for ev in r["events"]:
            t = ev["trigger"]
            spans.append(
                {"start": t["start"], "end": t["end"], "label": ev["event_type"], "kind": "trigger"}
            )
        for e in r["entities"]:
            where[e["id"]] = len(spans)
            spans.append(
                {"start": e["start"], "end": e["end"], "label": e["label"], "kind": "entity"}
            )
        args = [
            (k, where[a["entity_id"]], a["role"])
            for k, ev in enumerate(r["events"])
            for a in ev["arguments"]
            if a["entity_id"] in where
        ]
        out.append(ArgumentExample(r["text"], spans, args))
    return out


def _prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": round(p, 4), "r": round(r, 4), "f1": round(f, 4), "tp": tp, "fp": fp, "fn": fn}


def _argument_scores(argumenter: Any, rows: list[dict], predicted: list[list]) -> dict[str, Any]:
    tp = fp = fn = 0
    for row, spans in zip(rows, predicted, strict=True):
        pred = set()
        for a in argumenter.predict(row["text"], spans) if spans else []:
            t, e = spans[a.trigger], spans[a.entity]
            pred.add((t.start, t.end, t.label, e.start, e.end, a.role))
        gold = _gold_arguments(row)
        tp += len(pred & gold)
        fp += len(pred - gold)
        fn += len(gold - pred)
    return _prf(tp, fp, fn)


class _Predicted:
    """Predictions made once, handed to `evaluate` (which would otherwise predict again)."""

    def __init__(self, predicted: list[list], labels: Any) -> None:
        self.predicted, self.labels = predicted, labels

    def predict_batch(self, texts: list[str]) -> list[list]:
        assert len(texts) == len(self.predicted)
        return self.predicted


def not_computed(reason: str) -> dict[str, Any]:
    return {"status": NOT_COMPUTED, "reason": reason}


def baseline_scores(
    release: Path, ontology: Any, max_train: int = MAX_TRAIN, max_eval: int = MAX_EVAL
) -> dict[str, Any]:
    """Scores of the default learned model trained on `release`'s train split (see the module
    docstring), or a "not computed" result saying why."""
    try:
        from corpus.prelabel.arguments import MIN_LEARNED_ARGUMENTS, ArgumentModel, ArgumentRules
        from corpus.train import Example, TrainError, evaluate, train_model
    except ImportError as e:  # the train stage or its CRF library is not installed
        return not_computed(f"the training backend is not available ({e})")
    t0 = time.perf_counter()
    train_rows, in_split = _read(release, "train", max_train)
    if not train_rows:
        return not_computed("the release has no train split")
    train = [Example(r["text"], _spans(r), r["id"], r["group"]) for r in train_rows]
    try:
        model = train_model(train, ontology, backend="crf")
    except TrainError as e:
        return not_computed(e.message)
    except ImportError as e:
        return not_computed(f"the CRF backend is not available ({e})")
    arg_examples = _argument_examples(train_rows)
    n_args = sum(len(x.arguments) for x in arg_examples)
    if n_args >= MIN_LEARNED_ARGUMENTS:
        argumenter: Any = ArgumentModel(ontology).fit(arg_examples)
        arguments_model = "learned"
    else:
        argumenter, arguments_model = ArgumentRules(ontology), "rules"
    labels = {*ontology.entity_types, *ontology.event_types}
    out: dict[str, Any] = {
        "status": "computed",
        "model": "crf (corpus.train, default features)",
        "arguments_model": arguments_model,
        "matching": "exact spans (start, end, label); arguments: role, entity span and trigger",
        "train_sentences": len(train),
        "train_sentences_in_split": in_split,
        "scores": {},
    }
    for split in ("validation", "test"):
        rows, _ = _read(release, split, max_eval)
        if not rows:
            out["scores"][split] = not_computed(f"the release has no {split} split")
            continue
        examples = [Example(r["text"], _spans(r), r["id"], r["group"]) for r in rows]
        predicted = model.predict_batch([r["text"] for r in rows])
        spans = evaluate(_Predicted(predicted, model.labels), examples, labels)
        out["scores"][split] = {
            "sentences": len(rows),
            "entity": spans["entity"],
            "trigger": spans["trigger"],
            "argument": _argument_scores(argumenter, rows, predicted),
        }
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out
