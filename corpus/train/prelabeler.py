"""A trained model as a pre-labeler (`model:NAME`, or `model:NAME@vN` for one version).

Entities and triggers of the labels the model was trained on come from the model, with its own
confidences as scores; every other label of the ontology comes from the lexicon, where it does not
overlap a model span of the same kind. A model trained on another ontology (its hash differs) is
refused: its labels may no longer mean the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from corpus.errors import CorpusError
from corpus.types import Span

if TYPE_CHECKING:
    from corpus.train import TrainedModel
    from corpus.workspace import Workspace


class ModelPrelabelerError(CorpusError):
    """A `model:NAME` pre-labeler cannot be used (missing, stale ontology)."""


def parse_spec(spec: str) -> tuple[str, str | None]:
    """`model:NAME` or `model:NAME@vN` -> (NAME, version or None)."""
    body = spec.split(":", 1)[1].strip()
    name, _, version = body.partition("@")
    if not name:
        raise ModelPrelabelerError(
            f"Pre-labeler {spec!r} names no model.", "Write model:NAME, e.g. model:ner."
        )
    return name, version or None


class ModelPrelabeler:
    """Model spans for the model's labels, lexicon spans for the rest (module docstring)."""

    def __init__(self, model: TrainedModel, name: str, lexicon=None):
        from corpus.prelabel.lexicon import LexiconPrelabeler

        self.model = model
        self.model_name = name
        feat = getattr(model.impl, "featurizer", None)
        self.lexicon = lexicon or getattr(feat, "lexicon", None) or LexiconPrelabeler()
        self.name = f"model:{name}"
        self.claimed = {lb for labels in model.labels.values() for lb in labels}
        self._version = f"model:{name}@{model.card.get('version', '?')}"

    @property
    def version(self) -> str:
        # The lexicon's version is part of it: its spans fill the labels the model lacks.
        return f"{self._version}+{self.lexicon.version}"

    @classmethod
    def from_spec(cls, spec: str, workspace: Workspace | None) -> ModelPrelabeler:
        from corpus.ontology import load_ontology
        from corpus.train.examples import TrainError
        from corpus.train.store import load_model

        name, version = parse_spec(spec)
        if workspace is None:
            raise ModelPrelabelerError(
                f"Pre-labeler {spec!r} needs a workspace (models live in its models/ folder)."
            )
        try:
            model = load_model(workspace, name, version)
        except TrainError as e:
            raise ModelPrelabelerError(e.message, e.hint) from e
        ontology = load_ontology(workspace.ontology_path)
        if model.ontology_hash != ontology.hash:
            onto = model.card.get("ontology", {})
            raise ModelPrelabelerError(
                f"Model {name} {model.card.get('version')} was trained on ontology "
                f"{onto.get('name')!r} {onto.get('version')} (hash {model.ontology_hash[:12]}), "
                f"but the workspace ontology is {ontology.name!r} {ontology.version} "
                f"(hash {ontology.hash[:12]}): its labels may no longer mean the same.",
                f"Retrain it on the current ontology: corpus train --name {name}",
            )
        return cls(model, name)

    def predict(self, text: str) -> list[Span]:
        return self.analyse(text)[0]

    def predict_batch(self, texts: Sequence[str]) -> list[list[Span]]:
        return [self.analyse(t)[0] for t in texts]

    def analyse(self, text: str, uncertainty: bool = False) -> tuple[list[Span], float]:
        """(model + lexicon spans, the model's uncertainty about the sentence)."""
        spans, unsure = self.model.analyse(text, uncertainty=uncertainty)
        name = self.name
        spans = [Span(s.start, s.end, s.label, s.kind, s.score, name) for s in spans]
        lexicon_spans = self._lexicon_spans(text)
        taken = [(s.start, s.end, s.kind) for s in spans]
        for s in lexicon_spans:
            if s.label in self.claimed:
                continue
            if any(k == s.kind and a < s.end and s.start < b for a, b, k in taken):
                continue
            spans.append(s)
        spans.sort(key=lambda s: (s.start, s.end, s.kind, s.label))
        return spans, unsure

    def _lexicon_spans(self, text: str) -> list[Span]:
        # The CRF's featurizer has just run the lexicon on this text: reuse it.
        feat = getattr(self.model.impl, "featurizer", None)
        last = getattr(feat, "last_lexicon", None)
        if last is not None and last[0] is text:
            return last[1]
        return self.lexicon.predict(text)
