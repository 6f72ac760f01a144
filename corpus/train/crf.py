"""The default backend: one linear-chain CRF (python-crfsuite) per span kind over BIO tags.

Entities and triggers get separate taggers (a trigger may lie inside an entity), each trained only
when its kind has gold labels. Confidences are the CRF's own marginal probabilities: a span's score
is the smallest marginal of its tags (how sure the model is of its weakest word), and uncertainty
for active learning comes from the per-token marginals of every tag.
"""

from __future__ import annotations

import bisect
import math
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from corpus.publish.tokens import token_spans
from corpus.train.examples import Example
from corpus.train.features import Featurizer
from corpus.types import Span

KINDS = ("entity", "trigger")
# L1 + L2 regularisation; chosen on a hash-carved dev part of ANERcorp (README: corpus train).
DEFAULT_PARAMS = {
    "c1": 0.05,
    "c2": 0.02,
    "max_iterations": 150,
    "feature.possible_transitions": True,
}
FEATURE_NAMES = (
    "normalised form (alef/ya/ta-marbuta folded, diacritics and tatweel removed), clitic-stripped "
    "stem and its proclitics/enclitic, stem prefixes and suffixes (2, 3), shape, lexicon gazetteer "
    "and trigger hits, lexicon span tags, the same for words at -2..+2, word bigrams"
)


def bio_encode(tokens: Sequence[tuple[int, int]], spans: Sequence[Span]) -> list[str]:
    """BIO tags over `tokens` for `spans` (of one kind); a span tags every token it overlaps.
    A span overlapping an earlier one (earlier start, then longer first) is left out."""
    tags = ["O"] * len(tokens)
    starts = [a for a, _ in tokens]
    ends = [b for _, b in tokens]
    for s in sorted(spans, key=lambda x: (x.start, -x.end)):
        i0 = bisect.bisect_right(ends, s.start)
        i1 = bisect.bisect_left(starts, s.end)
        if i1 <= i0 or any(t != "O" for t in tags[i0:i1]):
            continue
        tags[i0] = "B-" + s.label
        for k in range(i0 + 1, i1):
            tags[k] = "I-" + s.label
    return tags


def bio_decode(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """[(first token, end token, label)] from BIO tags; an I- that does not continue a span of
    its label starts one (CRF output is nearly always well formed, but not guaranteed)."""
    out = []
    cur: list | None = None
    for i, t in enumerate(tags):
        if t == "O" or t.startswith("B-") or (cur is not None and t[2:] != cur[2]):
            if cur:
                out.append(tuple(cur))
                cur = None
        if t != "O":
            if cur is None:
                cur = [i, i + 1, t[2:]]
            else:
                cur[1] = i + 1
    if cur:
        out.append(tuple(cur))
    return out


class CRFModel:
    """Entity and trigger CRFs plus the featurizer they were trained with."""

    backend = "crf"

    def __init__(self, taggers: dict[str, bytes], labels: dict[str, list[str]], use_lexicon=True):
        self.model_bytes = taggers  # kind -> crfsuite model file contents
        self.labels = labels  # kind -> labels it was trained on
        self.use_lexicon = use_lexicon
        self.params: dict = {}
        self._taggers: dict = {}
        self._featurizer: Featurizer | None = None

    # -- training
    @classmethod
    def train(
        cls,
        examples: Sequence[Example],
        params: dict | None = None,
        use_lexicon: bool = True,
        featurizer: Featurizer | None = None,
    ) -> CRFModel:
        import pycrfsuite

        feat = featurizer or Featurizer(_lexicon() if use_lexicon else None)
        params = {**DEFAULT_PARAMS, **(params or {})}
        kinds = [k for k in KINDS if any(s.kind == k for ex in examples for s in ex.spans)]
        trainers = {k: pycrfsuite.Trainer(verbose=False) for k in kinds}
        for ex in examples:
            toks = token_spans(ex.text)
            if not toks:
                continue
            xseq = feat.sentence(ex.text, toks)
            for k, tr in trainers.items():
                tr.append(xseq, bio_encode(toks, [s for s in ex.spans if s.kind == k]))
        taggers, labels = {}, {}
        with tempfile.TemporaryDirectory(prefix="corpus-crf-") as tmp:
            for k, tr in trainers.items():
                tr.set_params(params)
                path = os.path.join(tmp, f"{k}.crfsuite")
                tr.train(path)
                taggers[k] = Path(path).read_bytes()
                labels[k] = sorted({s.label for ex in examples for s in ex.spans if s.kind == k})
        model = cls(taggers, labels, use_lexicon)
        model._featurizer = feat
        model.params = params
        return model

    # -- persistence
    def save(self, folder: Path) -> list[str]:
        files = []
        for k, data in self.model_bytes.items():
            (folder / f"{k}.crfsuite").write_bytes(data)
            files.append(f"{k}.crfsuite")
        return files

    @classmethod
    def load(cls, folder: Path, labels: dict[str, list[str]], use_lexicon: bool) -> CRFModel:
        taggers = {k: (folder / f"{k}.crfsuite").read_bytes() for k in labels}
        return cls(taggers, labels, use_lexicon)

    # -- prediction
    @property
    def featurizer(self) -> Featurizer:
        if self._featurizer is None:
            self._featurizer = Featurizer(_lexicon() if self.use_lexicon else None)
        return self._featurizer

    def _tagger(self, kind: str):
        t = self._taggers.get(kind)
        if t is None:
            import pycrfsuite

            t = pycrfsuite.Tagger()
            t.open_inmemory(self.model_bytes[kind])
            self._taggers[kind] = t
        return t

    def predict(self, text: str) -> list[Span]:
        return self.analyse(text)[0]

    def predict_batch(self, texts: Sequence[str]) -> list[list[Span]]:
        return [self.analyse(t)[0] for t in texts]

    def analyse(self, text: str, uncertainty: bool = False) -> tuple[list[Span], float]:
        """(spans, uncertainty): spans with their marginal scores; with `uncertainty`, the
        sentence's uncertainty (see `token_margins`), else 0.0."""
        toks = token_spans(text)
        if not toks:
            return [], 0.0
        xseq = self.featurizer.sentence(text, toks)
        spans: list[Span] = []
        worst = 0.0
        for kind in self.model_bytes:
            tagger = self._tagger(kind)
            tags = tagger.tag(xseq)
            for a, b, label in bio_decode(tags):
                score = min(tagger.marginal(tags[i], i) for i in range(a, b))
                spans.append(Span(toks[a][0], toks[b - 1][1], label, kind, round(score, 4), "crf"))
            if uncertainty:
                worst = max(worst, _uncertainty(tagger, len(toks)))
        spans.sort(key=lambda s: (s.start, s.end, s.kind))
        return spans, worst


def _uncertainty(tagger, n: int) -> float:
    """1 - the smallest margin between a token's two likeliest tags (0: sure of every token,
    1: a coin toss somewhere), from the marginals of the sequence just tagged."""
    labels = tagger.labels()
    worst = 0.0
    for i in range(n):
        ps = sorted((tagger.marginal(y, i) for y in labels), reverse=True)
        margin = ps[0] - (ps[1] if len(ps) > 1 else 0.0)
        worst = max(worst, 1.0 - margin)
    return worst


def token_entropy(tagger, n: int) -> float:
    """Sum of the tag entropies of the tokens of the sequence just tagged (nats)."""
    labels = tagger.labels()
    total = 0.0
    for i in range(n):
        for y in labels:
            p = tagger.marginal(y, i)
            if p > 0:
                total -= p * math.log(p)
    return total


_LEXICON = None


def _lexicon():
    global _LEXICON
    if _LEXICON is None:
        from corpus.prelabel.lexicon import LexiconPrelabeler

        _LEXICON = LexiconPrelabeler()
    return _LEXICON


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t
