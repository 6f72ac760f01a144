"""Pre-labelers: predict entity and event-trigger spans so annotators correct rather than start
from zero.

- `default_prelabeler()`: the offline lexicon pre-labeler (`corpus.prelabel.lexicon`).
- `get_prelabeler(spec, workspace)`: "lexicon", "camel" (camel-tools morphology and NER when their
  data is installed), "hf:PATH" (a Hugging Face token-classification model in a local folder) or
  "model:NAME" (a model trained with `corpus train`, see corpus.train.prelabeler).
  An optional source that is not available falls back to the lexicon with a warning; a missing
  trained model is an error unless `model_fallback="lexicon"` asks for the lexicon instead.
- `prelabel_batch(sentences, prelabeler, ontology)`: SENTENCES batch -> PREDICTIONS batch, every
  span validated against the ontology first; with `arguments=` also the argument relations
  (`corpus.prelabel.arguments`: rules, or a classifier learned from annotations).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import pyarrow as pa

from corpus.errors import CorpusError
from corpus.schemas import PREDICTIONS
from corpus.types import QuarantinedRow, Span

if TYPE_CHECKING:
    from corpus.ontology import Ontology
    from corpus.workspace import Workspace

__all__ = [
    "Prelabeler",
    "PrelabelerError",
    "PrelabelerUnavailable",
    "default_prelabeler",
    "get_prelabeler",
    "prelabel_batch",
]


@runtime_checkable
class Prelabeler(Protocol):
    """What every pre-labeler provides. Spans are offsets into the text given (code points)."""

    name: str  # written to predictions.source
    version: str  # written to predictions.model_version

    def predict(self, text: str) -> list[Span]: ...

    def predict_batch(self, texts: Sequence[str]) -> list[list[Span]]: ...


class PrelabelerError(CorpusError):
    """A pre-labeler cannot be used or produced something unusable."""


class PrelabelerUnavailable(PrelabelerError):
    """An optional source (camel-tools data, a model folder) is not installed; `reason` says why."""

    def __init__(self, spec: str, reason: str):
        super().__init__(
            f"Pre-labeler {spec!r} is not available: {reason}",
            "Install what it needs, or pass `--fallback lexicon` to use the lexicon instead.",
        )
        self.spec = spec
        self.reason = reason


def default_prelabeler() -> Prelabeler:
    """The offline lexicon pre-labeler (no downloads, no models)."""
    from corpus.prelabel.lexicon import LexiconPrelabeler

    return LexiconPrelabeler()


def get_prelabeler(
    spec: str | None = None,
    workspace: Workspace | None = None,
    fallback: bool = True,
    model_fallback: str | None = None,
) -> Prelabeler:
    """The pre-labeler named by `spec` (default: the workspace's `[prelabel] prelabeler`, else
    "lexicon"): "lexicon", "camel", "hf:PATH" (PATH relative to the workspace) or "model:NAME"
    (a model trained with `corpus train`, in the workspace's models/NAME/).

    An optional source that is missing falls back to the lexicon with a warning naming what is
    missing; with `fallback=False` it raises PrelabelerUnavailable instead (the command line's
    way: a pre-labeler asked for by name never silently becomes another). A trained model that
    is missing or was trained on another ontology is an error. Either falls back when
    `model_fallback` names another pre-labeler (e.g. "lexicon"), with a warning.
    """
    if spec is None:
        spec = (workspace.section("prelabel").get("prelabeler") if workspace else None) or "lexicon"
    spec = spec.strip()
    if spec.startswith("model:"):
        from corpus.train.prelabeler import ModelPrelabeler, ModelPrelabelerError

        try:
            return ModelPrelabeler.from_spec(spec, workspace)
        except ModelPrelabelerError as e:
            if not model_fallback or model_fallback.startswith("model:"):
                raise
            warnings.warn(f"{e.message}; using {model_fallback!r} instead.", stacklevel=2)
            return get_prelabeler(model_fallback, workspace, fallback)
    try:
        if spec == "lexicon":
            from corpus.prelabel.lexicon import LexiconPrelabeler

            # with the workspace's own gazetteer entries (lexicon/ and [prelabel.gazetteer])
            return LexiconPrelabeler.from_workspace(workspace)
        if spec == "camel":
            from corpus.prelabel.camel import CamelPrelabeler

            return CamelPrelabeler.from_config(workspace)
        if spec.startswith("hf:"):
            from corpus.prelabel.hf import HFPrelabeler

            return HFPrelabeler.from_spec(spec, workspace)
    except PrelabelerUnavailable as e:
        if model_fallback and model_fallback != spec:  # asked for by name: used, with a warning
            warnings.warn(f"{e.message}; using {model_fallback!r} instead.", stacklevel=2)
            return get_prelabeler(model_fallback, workspace, fallback=False)
        if not fallback:
            raise
        warnings.warn(f"{e.message}; using the lexicon pre-labeler instead.", stacklevel=2)
        return default_prelabeler()
    raise PrelabelerError(
        f"Unknown pre-labeler {spec!r}.",
        'Use "lexicon", "camel", "hf:PATH/TO/MODEL" or "model:NAME".',
    )


def prelabel_batch(
    sentences: pa.Table | pa.RecordBatch,
    prelabeler: Prelabeler,
    ontology: Ontology,
    quarantine=None,
    arguments=None,
) -> pa.Table:
    """Pre-label a SENTENCES batch into a PREDICTIONS table (one row per sentence).

    `arguments`: an argument pre-labeler (`corpus.prelabel.arguments.get_argumenter`) that
    fills the `relations` column from the valid spans; None leaves it null.

    Every span is checked with `corpus.ontology.validate_spans` first. An invalid span is not
    written: it goes to `quarantine` (anything with `.add(QuarantinedRow)`, e.g.
    corpus.quarantine.Quarantine) with its reason; without a quarantine an invalid span raises
    PrelabelerError, so nothing is dropped silently.
    """
    from corpus.ontology import validate_spans

    ids = sentences.column("sentence_id").to_pylist()
    articles = sentences.column("article_id").to_pylist()
    texts = sentences.column("text").to_pylist()
    predicted = prelabeler.predict_batch(texts)
    name, version = prelabeler.name, prelabeler.version
    rows = []
    for sid, aid, text, spans in zip(ids, articles, texts, predicted, strict=True):
        good, bad = validate_spans(spans, text, ontology)
        for span, reason in bad:
            row = QuarantinedRow(
                source=f"prelabel:{name}",
                location=f"sentence {sid}",
                reason=f"span [{span.start}, {span.end}) {span.label} ({span.kind}): {reason}",
                raw=json.dumps(
                    {"sentence_id": sid, "span": _span_dict(span), "text": text}, ensure_ascii=False
                ),
            )
            if quarantine is None:
                raise PrelabelerError(
                    f"Pre-labeler {name} produced an invalid span in sentence {sid}: {row.reason}",
                    "Pass a quarantine to keep invalid spans aside, or fix the pre-labeler.",
                )
            quarantine.add(row)
        rows.append(
            {
                "sentence_id": sid,
                "article_id": aid,
                "spans": [_span_dict(s) for s in good],
                "source": name,
                "model_version": version,
            }
        )
    table = pa.Table.from_pylist(rows, schema=PREDICTIONS)
    if arguments is not None:
        from corpus.prelabel.arguments import arguments_batch

        table = arguments_batch(table, texts, arguments)
    return table


def _span_dict(s: Span) -> dict:
    return {
        "start": s.start,
        "end": s.end,
        "label": s.label,
        "kind": s.kind,
        "score": s.score,
        "source": s.source,
    }
