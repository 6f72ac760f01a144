"""camel-tools as an optional source: morphology (lemma matching of triggers) and NER.

camel-tools itself is a dependency, but its data (morphology databases, the NER model) comes in
separate packages installed with `camel_data -i light` (morphology) or `camel_data -i full`
(morphology, NER and more; `camel_data --list` shows them) into `$CAMELTOOLS_DATA` (default
`~/.camel_tools`). This module detects that data without importing
`camel_tools.data` (whose import downloads a catalogue when none is installed: nothing may download
here), then loads it with camel-tools' own API:

- morphology: `MorphologyDB.builtin_db()` + `Analyzer`. A word the lexicon left unlabelled is a
  trigger when most of its analyses have a lemma (`lex`) that is a trigger lemma of the lexicon
  (verbs' perfect stem, nouns' singular): broken plurals and rare inflections the lexicon's
  generated forms miss.
- NER: `NERecognizer.pretrained()` labels words PERS/ORG/LOC/MISC; PERS -> PER, ORG -> ORG,
  LOC -> the lexicon's GPE/LOC/FAC label for the same words if it has one, else GPE; MISC dropped.

Lexicon spans come first; morphology triggers and NER entities are added where they overlap none.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from corpus.prelabel import PrelabelerUnavailable
from corpus.prelabel.lexicon import LexiconPrelabeler, merge_spans, normalize_word
from corpus.types import Span

if TYPE_CHECKING:
    from corpus.workspace import Workspace

NER_LABELS = {"PERS": "PER", "PER": "PER", "ORG": "ORG", "LOC": "GPE"}


def camel_data_dir() -> Path:
    """Where camel-tools looks for its data (same rule as camel_tools.data.catalogue)."""
    env = os.environ.get("CAMELTOOLS_DATA")
    return Path(env).expanduser().absolute() if env else Path.home() / ".camel_tools"


@dataclass
class CamelStatus:
    """What camel-tools data is installed (paths) and, if something is missing, why."""

    data_dir: Path
    morphology: Path | None = None  # the morphology.db file
    ner: Path | None = None  # the NER model folder
    reason: str = ""

    @property
    def available(self) -> bool:
        return self.morphology is not None or self.ner is not None


def camel_status(morphology_db: str | None = None, ner_model: str | None = None) -> CamelStatus:
    """Detect installed camel-tools data (no imports, no downloads). `morphology_db` and
    `ner_model` name catalogue datasets (default: the catalogue's defaults)."""
    data_dir = camel_data_dir()
    status = CamelStatus(data_dir)
    catalogue = data_dir / "catalogue.json"
    if not catalogue.is_file():
        status.reason = (
            f"camel-tools data is not installed (no {catalogue}); install it once with "
            "`camel_data -i light` (morphology) or `camel_data -i full` (adds NER), or point "
            "CAMELTOOLS_DATA at an installed copy"
        )
        return status
    try:
        components = json.loads(catalogue.read_text(encoding="utf-8"))["components"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        status.reason = f"cannot read {catalogue} ({e})"
        return status

    def dataset(component: str, name: str | None) -> Path | None:
        comp = components.get(component) or {}
        ds = (comp.get("datasets") or {}).get(name or comp.get("default"))
        return data_dir / "data" / ds["path"] if ds and "path" in ds else None

    morph = dataset("MorphologyDB", morphology_db)
    if morph is not None and (morph / "morphology.db").is_file():
        status.morphology = morph / "morphology.db"
    ner = dataset("NamedEntityRecognition", ner_model)
    if ner is not None and (ner / "config.json").is_file():
        status.ner = ner
    if not status.available:
        status.reason = f"no morphology database or NER model installed under {data_dir / 'data'}"
    return status


class CamelPrelabeler:
    """Lexicon + camel-tools morphology and/or NER. Data loads on first prediction."""

    name = "camel"

    def __init__(
        self,
        status: CamelStatus,
        morphology_db: str | None = None,
        ner_model: str | None = None,
        lexicon: LexiconPrelabeler | None = None,
        min_votes: float = 0.5,
    ):
        if not status.available:
            raise PrelabelerUnavailable("camel", status.reason)
        self.status = status
        self.morphology_db = morphology_db
        self.ner_model = ner_model
        self.lexicon = lexicon or LexiconPrelabeler()
        self.min_votes = min_votes
        self._analyzer = None
        self._ner = None
        self._lemma_cache: dict[str, str | None] = {}

    @classmethod
    def from_config(cls, workspace: Workspace | None = None) -> CamelPrelabeler:
        """From `[prelabel] camel_morphology_db` / `camel_ner_model` (catalogue dataset names)."""
        cfg = workspace.section("prelabel") if workspace else {}
        db, ner = cfg.get("camel_morphology_db") or None, cfg.get("camel_ner_model") or None
        # the lexicon part with the workspace's own gazetteer entries
        lexicon = LexiconPrelabeler.from_workspace(workspace)
        return cls(camel_status(db, ner), db, ner, lexicon=lexicon)

    @property
    def version(self) -> str:
        parts = []
        if self.status.morphology:
            parts.append(f"morph={self.status.morphology.parent.name}")
        if self.status.ner:
            parts.append(f"ner={self.status.ner.name}")
        return f"camel[{','.join(parts)}]+{self.lexicon.version}"

    # Loading goes through camel-tools' own API: the catalogue names the installed datasets.
    def _load(self) -> None:
        if self.status.morphology and self._analyzer is None:
            from camel_tools.morphology.analyzer import Analyzer
            from camel_tools.morphology.database import MorphologyDB

            db = MorphologyDB.builtin_db(self.morphology_db, flags="a")
            self._analyzer = Analyzer(db, backoff="NONE", cache_size=100_000)
        if self.status.ner and self._ner is None:
            from camel_tools.ner import NERecognizer

            self._ner = NERecognizer.pretrained(self.ner_model, use_gpu=False)

    def predict(self, text: str) -> list[Span]:
        return self.predict_batch([text])[0]

    def predict_batch(self, texts: Sequence[str]) -> list[list[Span]]:
        self._load()
        lex = self.lexicon
        analysed = [lex.analyse(t) for t in texts]
        base = [
            [Span(st[s], en[e - 1], lb, k, sc, lex.source) for s, e, lb, k, sc in found]
            for st, en, found in analysed
        ]
        ner_tags = None
        if self._ner is not None:
            sentences = [
                [t[s:e] for s, e in zip(st, en, strict=True)]
                for t, (st, en, _) in zip(texts, analysed, strict=True)
            ]
            ner_tags = self._ner.predict(sentences) if any(sentences) else [[] for _ in texts]
        out = []
        for k, (text, (starts, ends, found)) in enumerate(zip(texts, analysed, strict=True)):
            covered = [False] * len(starts)
            for s, e, *_ in found:
                for w in range(s, e):
                    covered[w] = True
            extra: list[Span] = []
            if self._analyzer is not None:
                for w, (s, e) in enumerate(zip(starts, ends, strict=True)):
                    if not covered[w]:
                        event = self._lemma_event(text[s:e])
                        if event:
                            extra.append(Span(s, e, event, "trigger", 0.6, "camel-morph"))
            spans = merge_spans(base[k], extra)
            if ner_tags is not None:
                spans = merge_spans(spans, self._ner_spans(ner_tags[k], starts, ends, found))
            out.append(spans)
        return out

    def _lemma_event(self, word: str) -> str | None:
        """The event type most analyses of `word` point to through their lemma, if any."""
        if word in self._lemma_cache:
            return self._lemma_cache[word]
        event = None
        if len(word) >= 3:
            analyses = self._analyzer.analyze(word)
            lemmas = self.lexicon.resources.trigger_lemmas
            votes: dict[str, int] = {}
            for a in analyses:
                ev = lemmas.get(normalize_word(a.get("lex", "")))
                if ev:
                    votes[ev] = votes.get(ev, 0) + 1
            if votes:
                best, n = max(votes.items(), key=lambda kv: kv[1])
                if n >= self.min_votes * len(analyses):
                    event = best
        self._lemma_cache[word] = event
        return event

    @staticmethod
    def _ner_spans(tags: list[str], starts, ends, found) -> list[Span]:
        """BIO tags over words -> entity spans; LOC takes the lexicon's place label if any."""
        place = {}
        for s, e, label, _k, _sc in found:
            if label in ("GPE", "LOC", "FAC"):
                for w in range(s, e):
                    place[w] = label
        spans: list[Span] = []
        cur: list | None = None  # [first word, last word, camel label]
        for w, tag in enumerate(list(tags) + ["O"]):
            prefix, _, lab = tag.partition("-") if "-" in tag else ("", "", tag)
            if cur and (prefix != "I" or lab != cur[2]):
                label = NER_LABELS.get(cur[2])
                if label:
                    if cur[2] == "LOC":
                        label = place.get(cur[0], "GPE")
                    spans.append(
                        Span(starts[cur[0]], ends[cur[1]], label, "entity", 0.7, "camel-ner")
                    )
                cur = None
            if prefix in ("B", "I") and w < len(starts):
                if cur is None:
                    cur = [w, w, lab]
                else:
                    cur[1] = w
        return spans
