"""Pre-labelers: predict entity and event-trigger spans so annotators correct rather than start
from zero.

- `default_prelabeler()`: the offline lexicon pre-labeler (`corpus.prelabel.lexicon`).
- `get_prelabeler(spec, workspace)`: "lexicon", "camel" (camel-tools morphology and NER when their
  data is installed), "hf:PATH" (a Hugging Face token-classification model in a local folder) or
  "model:NAME" (a model trained with `corpus train`, see corpus.train.prelabeler).
  An optional source that is not available falls back to the lexicon with a warning; a missing
  trained model is an error unless `model_fallback="lexicon"` asks for the lexicon instead.
- `prelabel_batch(sentences, prelabeler, ontology, arguments=None)`: SENTENCES batch ->
  PREDICTIONS rows with the rejected spans (and failed sentences) as columns; every span
  validated against the ontology; with `arguments=` also the argument relations
  (`corpus.prelabel.arguments`: rules, or a classifier learned from annotations).
- `PrelabelStage`: the same as a class for the runner (loads the pre-labeler once per worker);
  `corpus.prelabel.run` is the stage's driver.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import pyarrow as pa

from corpus.errors import CorpusError
from corpus.schemas import PREDICTIONS
from corpus.types import Span

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
    "PrelabelStage",
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


# What `prelabel_batch` gives back: a PREDICTIONS row per sentence, plus what was rejected.
REJECTED_SPAN = pa.struct([pa.field("reason", pa.string()), pa.field("raw", pa.string())])
PRELABEL_BATCH = pa.schema(
    list(PREDICTIONS)
    + [
        pa.field("rejected", pa.list_(REJECTED_SPAN), nullable=False),  # invalid spans, not kept
        pa.field("reject_reason", pa.string()),  # set: the sentence could not be pre-labeled
    ]
)


def prelabel_batch(
    sentences: pa.Table | pa.RecordBatch,
    prelabeler: Prelabeler,
    ontology: Ontology,
    arguments=None,
) -> pa.Table:
    """Pre-label a SENTENCES batch: PRELABEL_BATCH rows, one per sentence, in order.

    Every span is checked with `corpus.ontology.validate_spans` first; an invalid one is left out
    of `spans` and listed in `rejected` with its reason. When the pre-labeler fails on a sentence,
    its row has a `reject_reason` (and no spans). Nothing raises, nothing is dropped silently.

    `arguments`: an argument pre-labeler (`corpus.prelabel.arguments.get_argumenter`) that
    fills the `relations` column from the valid spans; None leaves it null.
    """
    from corpus.ontology import validate_spans

    ids = sentences.column("sentence_id").to_pylist()
    articles = sentences.column("article_id").to_pylist()
    texts = sentences.column("text").to_pylist()
    predicted, failed = _predict(prelabeler, texts)
    name, version = prelabeler.name, prelabeler.version
    rows = []
    for i, (sid, aid, text, spans) in enumerate(zip(ids, articles, texts, predicted, strict=True)):
        good, bad = validate_spans(spans, text, ontology)
        rejected = [
            {
                "reason": f"span [{span.start}, {span.end}) {span.label} ({span.kind}): {reason}",
                "raw": json.dumps(
                    {"sentence_id": sid, "span": _span_dict(span), "text": text},
                    ensure_ascii=False,
                ),
            }
            for span, reason in bad
        ]
        rows.append(
            {
                "sentence_id": sid,
                "article_id": aid,
                "spans": [_span_dict(s) for s in good],
                "source": name,
                "model_version": version,
                "rejected": rejected,
                "reject_reason": failed.get(i),
            }
        )
    table = pa.Table.from_pylist(rows, schema=PRELABEL_BATCH)
    if arguments is not None:
        from corpus.prelabel.arguments import arguments_batch

        table = arguments_batch(table, texts, arguments)
    return table


def _predict(prelabeler: Prelabeler, texts: list[str]) -> tuple[list[list[Span]], dict[int, str]]:
    """Spans per text, and the texts the pre-labeler failed on (index -> reason).

    A batch that fails is retried text by text, so one bad sentence costs only itself.
    """
    try:
        return prelabeler.predict_batch(texts), {}
    except Exception:  # any pre-labeler failure becomes a quarantined row
        out: list[list[Span]] = []
        failed: dict[int, str] = {}
        for i, text in enumerate(texts):
            try:
                out.append(prelabeler.predict_batch([text])[0])
            except Exception as e:
                out.append([])
                failed[i] = f"the pre-labeler failed on this sentence ({type(e).__name__}: {e})"
        return out, failed


def _span_dict(s: Span) -> dict:
    return {
        "start": s.start,
        "end": s.end,
        "label": s.label,
        "kind": s.kind,
        "score": s.score,
        "source": s.source,
    }


class PrelabelStage:
    """The prelabel stage for the runner: a class made once per worker (Ray's class-UDF shape).

    `__init__` loads the pre-labeler (resolved spec, no fallback: the driver already resolved
    it) and the ontology; each call is `prelabel_batch` on one batch. Plain strings are passed
    in (and the driver's argument predictor), so the stage pickles and every worker builds its
    own model.
    """

    def __init__(
        self,
        spec: str,
        ontology_path: str,
        workspace_root: str | None = None,
        expected_version: str | None = None,
        arguments=None,
    ):
        from corpus.ontology import load_ontology
        from corpus.workspace import Workspace

        ws = Workspace.load(Path(workspace_root)) if workspace_root else None
        self.prelabeler = get_prelabeler(spec, ws, fallback=False)
        if expected_version and self.prelabeler.version != expected_version:
            # A worker must predict with exactly what the driver resolved and records.
            raise PrelabelerError(
                f"Pre-labeler {spec!r} is {self.prelabeler.version} on this worker, not "
                f"{expected_version} as on the driver.",
                "Give every worker the same model files and package version.",
            )
        self.ontology = load_ontology(ontology_path)
        self.arguments = arguments  # built (maybe trained) once by the driver; it pickles
        # Load lazily-loaded resources (lexicon tables, model weights) now, once per worker.
        self.prelabeler.predict_batch(["."])

    def __call__(self, sentences: pa.Table) -> pa.Table:
        return prelabel_batch(sentences, self.prelabeler, self.ontology, self.arguments)
