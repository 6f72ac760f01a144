"""Learned pre-labelers: train on the team's annotations (or a release, or external span corpora),
store versioned models with a card, score them, and pre-label with them.

Python API (used by `corpus train` and by release baselines):

- `train_model(examples, ontology, backend="crf", base=None) -> TrainedModel`
- `evaluate(model, examples, labels=None) -> {"entity": {p, r, f1, ...}, "trigger": {...},
  "micro": {...}, "per_label": {label: {...}}}` (exact-span matching: start, end and label)
- `save_model(workspace, name, model, card) -> version`, `load_model(workspace, name)`
- `Example(text, spans, id, group)`; readers in `corpus.train.examples`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from corpus.train.examples import Example, TrainError, split_examples
from corpus.types import Span

if TYPE_CHECKING:
    from corpus.ontology import Ontology

__all__ = [
    "BACKENDS",
    "Example",
    "TrainError",
    "TrainedModel",
    "evaluate",
    "load_model",
    "save_model",
    "split_examples",
    "train_model",
]

BACKENDS = ("crf", "transformer")


@dataclass
class TrainedModel:
    """A trained backend model with what it was trained on (the card's facts)."""

    backend: str
    impl: Any  # CRFModel or TransformerModel: predict, predict_batch, analyse
    ontology_hash: str
    labels: dict[str, list[str]]  # kind -> labels the model predicts
    card: dict[str, Any] = field(default_factory=dict)

    def predict(self, text: str) -> list[Span]:
        return self.impl.predict(text)

    def predict_batch(self, texts: Sequence[str]) -> list[list[Span]]:
        return self.impl.predict_batch(texts)

    def analyse(self, text: str, uncertainty: bool = True) -> tuple[list[Span], float]:
        """(spans, uncertainty in [0, 1]) of one sentence."""
        return self.impl.analyse(text, uncertainty=uncertainty)


def train_model(
    examples: Sequence[Example],
    ontology: Ontology,
    backend: str = "crf",
    base: str | None = None,
    params: dict | None = None,
    use_lexicon: bool = True,
) -> TrainedModel:
    """Train a model of `backend` on `examples` (every label must be in `ontology`)."""
    from corpus.train.examples import check_labels

    examples = list(examples)
    check_labels(examples, ontology, "training data")
    if not any(ex.spans for ex in examples):
        raise TrainError(
            f"The {len(examples)} training sentences hold no labelled spans: nothing to learn.",
            "Annotate more, or add data with --extra.",
        )
    t0 = time.perf_counter()
    if backend == "crf":
        from corpus.train.crf import FEATURE_NAMES, CRFModel
        from corpus.train.features import FEATURE_VERSION

        impl = CRFModel.train(examples, params=params, use_lexicon=use_lexicon)
        features: dict[str, Any] = {
            "features": FEATURE_NAMES,
            "feature_version": FEATURE_VERSION,
            "lexicon_features": use_lexicon,
            "params": {**impl.params},
        }
    elif backend == "transformer":
        from corpus.train.transformer import TransformerModel

        if not base:
            raise TrainError(
                "The transformer backend needs --base PATH: a local Hugging Face checkpoint.",
                "Pass the folder of a model saved with save_pretrained (nothing is downloaded).",
            )
        impl = TransformerModel.train(examples, base, ontology, params=params)
        features = {"base_model": str(base), **impl.info}
    else:
        raise TrainError(f"Unknown backend {backend!r}.", f"Use one of: {', '.join(BACKENDS)}.")
    seconds = time.perf_counter() - t0
    labels = impl.labels
    card = {
        "backend": backend,
        **features,
        "ontology": {"name": ontology.name, "version": ontology.version, "hash": ontology.hash},
        "labels": labels,
        "training": {
            "sentences": len(examples),
            "spans": dict(Counter(s.label for ex in examples for s in ex.spans)),
            "seconds": round(seconds, 2),
        },
    }
    return TrainedModel(backend, impl, ontology.hash, labels, card)


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": round(p, 4), "r": round(r, 4), "f1": round(f, 4), "tp": tp, "fp": fp, "fn": fn}


def evaluate(
    model: Any, examples: Sequence[Example], labels: Iterable[str] | None = None
) -> dict[str, Any]:
    """Exact-span precision, recall and F1 of `model` (anything with `predict_batch`) on
    `examples`: per kind ("entity", "trigger"), overall ("micro") and per label.

    Only `labels` are scored (default: the model's labels when it has them, else every gold
    label), so spans of labels the gold data never annotates do not count as wrong."""
    if labels is None:
        known = getattr(model, "labels", None)
        if isinstance(known, dict):
            labels = {lb for v in known.values() for lb in v}
        else:
            labels = {s.label for ex in examples for s in ex.spans}
    keep = set(labels)
    preds = model.predict_batch([ex.text for ex in examples])
    tp: Counter = Counter()
    fp: Counter = Counter()
    fn: Counter = Counter()
    kinds: dict[str, str] = {}
    for ex, spans in zip(examples, preds, strict=True):
        gold = {(s.start, s.end, s.label) for s in ex.spans if s.label in keep}
        pred = {(s.start, s.end, s.label) for s in spans if s.label in keep}
        for s in [*ex.spans, *spans]:
            kinds.setdefault(s.label, s.kind)
        for key in pred:
            (tp if key in gold else fp)[key[2]] += 1
        for key in gold - pred:
            fn[key[2]] += 1
    out: dict[str, Any] = {"per_label": {}}
    for lb in sorted(keep):
        out["per_label"][lb] = {**_prf(tp[lb], fp[lb], fn[lb]), "gold": tp[lb] + fn[lb]}
    for kind in ("entity", "trigger"):
        ls = [lb for lb in keep if kinds.get(lb, "entity") == kind]
        out[kind] = _prf(sum(tp[x] for x in ls), sum(fp[x] for x in ls), sum(fn[x] for x in ls))
    out["micro"] = _prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    out["sentences"] = len(examples)
    return out


def save_model(workspace, name: str, model: TrainedModel, card: dict | None = None) -> str:
    from corpus.train.store import save_model as _save

    return _save(workspace, name, model, card)


def load_model(workspace, name: str, version: str | None = None) -> TrainedModel:
    from corpus.train.store import load_model as _load

    return _load(workspace, name, version)
