"""The `corpus train` driver: gather training data, hold out a validation part, train, score,
store the model with its card; or, with `curve`, train on growing shares of the data."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpus.train import evaluate, save_model, train_model
from corpus.train.examples import (
    Example,
    LoadReport,
    TrainError,
    check_labels,
    from_annotations,
    from_release,
    parse_label_map,
    read_extra,
    split_examples,
)

if TYPE_CHECKING:
    from corpus.ontology import Ontology
    from corpus.workspace import Workspace

VALIDATION_SHARE = 0.1
SPLIT_SEED = "train"  # hash seed of the validation part (README: corpus train)
CURVE_SHARES = (0.25, 0.5, 0.75, 1.0)


@dataclass
class TrainingData:
    examples: list[Example]
    sources: list[str]  # what each part came from, for the card
    reports: list[LoadReport] = field(default_factory=list)  # --extra files read


def gather(
    ws: Workspace,
    ontology: Ontology,
    release: str | None = None,
    extra: list[Path] | None = None,
    label_map: str | None = None,
) -> TrainingData:
    """The workspace's adjudicated annotations (or `release`'s sentences) plus `extra` files.

    Without --release, annotations are used when the workspace has pulled any; with only --extra
    files and no annotations, the extra files alone are the data."""
    mapping = parse_label_map(label_map)
    examples: list[Example] = []
    sources: list[str] = []
    if release:
        got = from_release(ws, release)
        examples += got
        sources.append(f"release {release}: {len(got)} sentences (train + validation splits)")
    elif ws.annotations_path.exists() or not extra:
        got = from_annotations(ws)
        examples += got
        sources.append(f"adjudicated annotations: {len(got)} sentences")
    reports = []
    for path in extra or []:
        rep = read_extra(Path(path), mapping)
        check_labels(rep.examples, ontology, str(path))
        reports.append(rep)
        examples += rep.examples
        note = f"{path}: {len(rep.examples)} sentences"
        if rep.skipped:
            note += f", {len(rep.skipped)} bad lines skipped"
        if rep.dropped_labels:
            note += ", dropped labels " + ", ".join(
                f"{k} ({v})" for k, v in sorted(rep.dropped_labels.items())
            )
        if mapping:
            note += " (label map " + ",".join(f"{k}={v or ''}" for k, v in mapping.items()) + ")"
        sources.append(note)
    check_labels(examples, ontology, "training data")
    if not examples:
        raise TrainError("No training sentences.", "Pull annotations, or pass --extra FILE.")
    return TrainingData(examples, sources, reports)


@dataclass
class TrainResult:
    version: str
    card: dict[str, Any]
    train_sentences: int
    validation_sentences: int


def train_and_store(
    ws: Workspace,
    ontology: Ontology,
    data: TrainingData,
    name: str,
    backend: str = "crf",
    base: str | None = None,
    params: dict | None = None,
    curve: list[dict[str, Any]] | None = None,
) -> TrainResult:
    """Train on the data minus a hash-carved validation part, score on it, store the model
    (with the `learning_curve` points, when given, so `corpus report` can draw them: share,
    sentences, entity/trigger/micro F1 and F1 per label)."""
    from corpus.train.store import check_name

    check_name(name)
    train, dev = split_examples(data.examples, VALIDATION_SHARE, SPLIT_SEED)
    if not train:
        train, dev = data.examples, []
    model = train_model(train, ontology, backend=backend, base=base, params=params)
    extra: dict[str, Any] = {
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": data.sources,
        "split": {
            "validation_share": VALIDATION_SHARE,
            "by": f"blake2b({SPLIT_SEED!r}:group) of each sentence's article group (else its id)",
            "train_sentences": len(train),
            "validation_sentences": len(dev),
        },
    }
    if curve:
        extra["curve"] = curve_for_card(curve)
    if dev:
        t = time.perf_counter()
        extra["validation"] = evaluate(model, dev)
        extra["validation"]["seconds"] = round(time.perf_counter() - t, 2)
    version = save_model(ws, name, model, extra)
    return TrainResult(version, model.card, len(train), len(dev))


def learning_curve(
    ontology: Ontology,
    data: TrainingData,
    backend: str = "crf",
    base: str | None = None,
    shares=CURVE_SHARES,
    params: dict | None = None,
) -> list[dict[str, Any]]:
    """Validation scores of models trained on growing shares of the training part (the same
    validation part as `train_and_store`); each share holds the smaller ones (a prefix of a
    fixed hash order), so the curve shows what more annotation adds."""
    import hashlib

    train, dev = split_examples(data.examples, VALIDATION_SHARE, SPLIT_SEED)
    if not dev:
        raise TrainError(
            f"Only {len(data.examples)} sentences: too few to hold out a validation part.",
            "Annotate more before drawing a learning curve.",
        )
    order = sorted(
        train, key=lambda ex: hashlib.blake2b((ex.id or ex.text).encode(), digest_size=8).digest()
    )
    labels = {s.label for ex in train for s in ex.spans}
    out = []
    for share in shares:
        part = order[: max(1, round(len(order) * share))]
        t = time.perf_counter()
        model = train_model(part, ontology, backend=backend, base=base, params=params)
        seconds = time.perf_counter() - t
        scores = evaluate(model, dev, labels)
        out.append({"share": share, "sentences": len(part), "seconds": seconds, "scores": scores})
    return out


def curve_for_card(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The learning curve as the card keeps it: F1 per kind, overall and per label per share."""
    return [
        {
            "share": p["share"],
            "sentences": p["sentences"],
            "entity": p["scores"]["entity"]["f1"],
            "trigger": p["scores"]["trigger"]["f1"],
            "micro": p["scores"]["micro"]["f1"],
            "per_label": {lb: s["f1"] for lb, s in p["scores"]["per_label"].items()},
        }
        for p in points
    ]
