"""Argument pre-labels: trigger -> entity relations with a role, on top of any pre-labeler's spans.

Input is a sentence and its predicted spans (from the lexicon, a trained model, anything); output
is a list of `Argument(trigger, entity, role, score)` where trigger and entity are indexes into
that span list. Every role is one the ontology allows for the trigger's event type *and* for the
entity's type (`Ontology.event_types`, `Ontology.role_fillers`): nothing else is ever produced.

Two predictors share that contract:
- `ArgumentRules` (the default): each entity goes to the nearest trigger in its clause that can
  take it; Place and Time go to every trigger of their comma-separated segment. The role comes
  from the types and from Arabic cues before the entity: في / بـ / قرب / مدينة ... for Place,
  إلى / نحو for Destination, من for Origin, على / ضد for Target, على يد / بنيران for Agent and
  Attacker, the word order (a subject before its trigger) for the rest.
- `ArgumentModel`: a multinomial logistic regression (numpy only) over trigger-entity pairs,
  trained from annotated sentences (`corpus pull`'s annotations); its features are the types,
  direction, distance, cue words before and between, clause and comma crossings, whether the
  trigger is the nearest one that can take the entity, and the rules' own answer.
  Its softmax is restricted to the allowed roles (and "no relation").

`arguments_batch` applies a predictor to a PREDICTIONS table and fills its `relations` column;
`get_argumenter(spec, workspace, ontology)` picks one ("rules", "learned", "auto", "none").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from corpus.errors import CorpusError

if TYPE_CHECKING:
    import pyarrow as pa

    from corpus.ontology import Ontology
    from corpus.workspace import Workspace

ARGUMENTS_VERSION = "1"
NONE = "-"  # "no relation" class of the learned model

# Cue words, normalised (corpus.prelabel.lexicon.normalize_word: no hamza forms, ة -> ه, ى -> ي).
_PLACE_CUES = frozenset(
    "في قرب بالقرب داخل عند امام شمال جنوب شرق غرب شمالي جنوبي شرقي غربي وسط اطراف محيط "
    "ضواحي مدينه بلده قريه محافظه ولايه منطقه ريف مخيم حي قضاء ناحيه مدخل خارج بمدينه "
    "ببلده بقريه بمحافظه بولايه بمنطقه بريف بمخيم بحي بين".split()
)
_DEST_CUES = frozenset("الي نحو باتجاه صوب لي".split())
_ORIGIN_CUES = frozenset("من".split())
_TARGET_CUES = frozenset("علي ضد استهدف استهدفت مستهدفا طالت".split())
_AGENT_CUES = frozenset("يد ايدي بنيران برصاص قبل نيران رصاص".split())
_RELEASE_CUES = frozenset("عن".split())
# after these a place is not where the event happened (تضامنا مع غزة، بشأن سوريا)
_NOT_PLACE_CUES = frozenset("مع عن حول بشان تضامنا لصالح".split())
# the subject of a reporting verb is the source, not a participant (أعلنت وزارة الصحة مقتل ...)
_REPORT_VERBS = frozenset(
    "اعلن اعلنت قال قالت ذكر ذكرت افاد افادت اكد اكدت اوضح اوضحت صرح صرحت اضاف "
    "اضافت كشف كشفت نفي نفت اتهم اتهمت حذر حذرت ادان ادانت وقال وقالت واعلن واعلنت واكد "
    "واكدت واضاف واضافت".split()
)
# verbs and nouns of leaving: a bare place after them is where the movement starts (غادر بيروت)
_DEPARTURE = (
    "غادر", "يغادر", "تغادر", "مغادره", "انسحب", "ينسحب", "تنسحب", "انسحاب", "فر", "يفر",
    "تفر", "فرار", "هرب", "يهرب", "تهرب", "هروب", "نزح", "ينزح", "تنزح", "نزوح", "رحيل",
)  # fmt: skip
_PREPOSITIONS = _PLACE_CUES | _DEST_CUES | _ORIGIN_CUES | _NOT_PLACE_CUES
# a clause boundary word: what follows إن / أن is a new clause (قالت الشرطة إن انتحاريا فجر ...)
_CLAUSE_WORDS = frozenset(("ان",))
_STRONG_PUNCT = frozenset(".!?؟;؛:")
_COMMA = frozenset(",،")
_PLACE_TYPES = frozenset(("GPE", "LOC", "FAC"))
_SHARED_ROLES = ("Place", "Time")
# Roles a person-like entity takes when no cue decides, per event type (first allowed wins).
_PARTICIPANT_ORDER = (
    "Victim",
    "Person",
    "Artifact",
    "Entity",
    "Target",
    "Agent",
    "Attacker",
    "Instrument",
    "Vehicle",
)


@dataclass(frozen=True, slots=True)
class Argument:
    """A predicted relation: spans[trigger] -> spans[entity] with `role`."""

    trigger: int
    entity: int
    role: str
    score: float
    source: str = ""


@dataclass(slots=True)
class _Sent:
    """Word positions and cues of one sentence, shared by the rules and the model."""

    text: str
    starts: list[int]
    ends: list[int]
    norm: list[str]
    clause: list[int]  # clause number of each word (strong punctuation)
    segment: list[int]  # comma-separated segment number of each word

    def word_at(self, offset: int) -> int:
        """Index of the word containing or following `offset`."""
        import bisect

        i = bisect.bisect_right(self.starts, offset) - 1
        return max(i, 0)


def _sentence(text: str) -> _Sent:
    from corpus.prelabel.lexicon import normalize_word, word_spans

    spans = word_spans(text)
    starts = [s for s, _ in spans]
    ends = [e for _, e in spans]
    norm = [normalize_word(text[s:e]) for s, e in spans]
    clause, segment = [], []
    c = g = 0
    prev_end = 0
    for k, (s, e) in enumerate(spans):
        gap = text[prev_end:s]
        if any(ch in _STRONG_PUNCT for ch in gap) or norm[k] in _CLAUSE_WORDS:
            c += 1
            g += 1
        elif any(ch in _COMMA for ch in gap):
            g += 1
        clause.append(c)
        segment.append(g)
        prev_end = e
    return _Sent(text, starts, ends, norm, clause, segment)


def _get(span: Any, key: str) -> Any:
    return span[key] if isinstance(span, Mapping) else getattr(span, key)


@dataclass(slots=True)
class _Item:
    index: int  # into the span list
    label: str
    kind: str
    first: int  # first and last word index
    last: int


def _items(sent: _Sent, spans: Sequence[Any]) -> tuple[list[_Item], list[_Item]]:
    triggers, entities = [], []
    for i, s in enumerate(spans):
        start, end = int(_get(s, "start")), int(_get(s, "end"))
        if end <= start:
            continue
        item = _Item(
            i, _get(s, "label"), _get(s, "kind"), sent.word_at(start), sent.word_at(end - 1)
        )
        (triggers if item.kind == "trigger" else entities).append(item)
    return triggers, entities


def _strip_prep(word: str) -> tuple[str, str]:
    """(clitic, rest) when a word starts with و/ف then ب/ل before the article (بالموصل, للجيش);
    ("", word) otherwise. A bare ب is not stripped: بغداد is not ب + غداد."""
    w = word
    lead = ""
    if len(w) > 4 and w[0] in "وف" and w[1] in "بل":
        lead, w = w[0], w[1:]
    if w.startswith("لل") and len(w) > 3:
        return lead + "ل", "ال" + w[2:]
    if len(w) > 4 and w[0] in "بل" and w[1:3] == "ال":
        return lead + w[0], w[1:]
    return lead, word


def _cues(sent: _Sent, trig: _Item, ent: _Item) -> dict[str, Any]:
    """What the rules and the model look at for one trigger-entity pair."""
    after = ent.first > trig.last
    if after:
        lo, hi = trig.last + 1, ent.first
    else:
        lo, hi = ent.last + 1, trig.first
    between = sent.norm[lo:hi]
    prev = [sent.norm[k] for k in range(max(0, ent.first - 2), ent.first)]
    clitic, _ = _strip_prep(sent.norm[ent.first])
    prev1 = prev[-1] if prev else ""
    prev_words = set(prev)
    return {
        "after": after,
        "distance": max(0, hi - lo),
        "between": between,
        "prev1": prev1,
        "prev2": prev[0] if len(prev) == 2 else "",
        "clitic": clitic,
        "same_clause": sent.clause[ent.first] == sent.clause[trig.first],
        "same_segment": sent.segment[ent.first] == sent.segment[trig.first],
        "place_cue": bool(prev_words & _PLACE_CUES) or clitic.endswith("ب"),
        "dest_cue": prev1 in _DEST_CUES or clitic.endswith("ل"),
        "origin_cue": prev1 in _ORIGIN_CUES,
        "target_cue": bool(prev_words & _TARGET_CUES),
        "agent_cue": bool(prev_words & _AGENT_CUES),
        "release_cue": prev1 in _RELEASE_CUES,
        "not_place_cue": bool(prev_words & _NOT_PLACE_CUES),
        "reported": prev1 in _REPORT_VERBS,
        "departure": sent.norm[trig.first].lstrip("وف").startswith(_DEPARTURE),
        "trigger_word": sent.norm[trig.first],
    }


def allowed_roles(ontology: Ontology, event_type: str, entity_type: str) -> list[str]:
    """Roles of `event_type` that `entity_type` may fill, in the ontology's order."""
    return [
        r
        for r in ontology.event_types.get(event_type, ())
        if entity_type in ontology.role_fillers.get(r, ())
    ]


class ArgumentRules:
    """Rule-based argument pre-labels (see the module docstring)."""

    name = "rules"

    def __init__(self, ontology: Ontology):
        self.ontology = ontology
        digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:8]
        self.version = f"args-rules-{ARGUMENTS_VERSION}+{digest}"

    def predict(self, text: str, spans: Sequence[Any]) -> list[Argument]:
        return self._predict(_sentence(text), spans)

    def _predict(self, sent: _Sent, spans: Sequence[Any]) -> list[Argument]:
        triggers, entities = _items(sent, spans)
        out: list[Argument] = []
        if not triggers or not entities:
            return out
        for ent in entities:
            options = []
            for trig in triggers:
                if trig.first <= ent.last and ent.first <= trig.last:
                    continue  # overlapping spans are not each other's arguments
                if not allowed_roles(self.ontology, trig.label, ent.label):
                    continue
                cues = _cues(sent, trig, ent)
                if not cues["same_clause"]:
                    continue
                options.append((not cues["same_segment"], cues["distance"], cues["after"], trig))
            if not options:
                continue
            # Arabic puts the event first (VSO, the noun before its complements): a trigger
            # after the entity counts as two words further away.
            options.sort(key=lambda o: (o[0], o[1] + (0 if o[2] else 2), not o[2]))
            if ent.label in _PLACE_TYPES and self._container(sent, ent, entities):
                continue
            if ent.label == "TIME" or (ent.label in _PLACE_TYPES and self._is_place(options, sent)):
                # Place and Time belong to every event of their segment, else to the nearest.
                chosen = [o[3] for o in options if not o[0]] or [options[0][3]]
            else:
                chosen = [options[0][3]]
            for trig in chosen:
                role, score = self.role(sent, trig, ent)
                if role:
                    out.append(Argument(trig.index, ent.index, role, score, "rules"))
        return out

    @staticmethod
    def _container(sent: _Sent, ent: _Item, entities: Sequence[_Item]) -> bool:
        """A place that only locates the place before it (حوارة جنوب نابلس، القصير بريف حمص)
        is not an argument of its own; coordinated places (كربلاء والنجف) are."""
        for other in entities:
            if other is ent or other.label not in _PLACE_TYPES or other.last >= ent.first:
                continue
            gap = ent.first - other.last - 1
            if gap > 2:
                continue
            between = sent.norm[other.last + 1 : ent.first]
            clitic, _ = _strip_prep(sent.norm[ent.first])
            if (set(between) & _PLACE_CUES) or (gap == 0 and clitic.endswith("ب")):
                return True
        return False

    def _is_place(self, options, sent: _Sent) -> bool:
        trig = options[0][3]
        return "Place" in self.ontology.event_types.get(trig.label, ())

    def role(self, sent: _Sent, trig: _Item, ent: _Item) -> tuple[str | None, float]:
        """The role of `ent` for `trig` from the types and cues, with a confidence."""
        allowed = allowed_roles(self.ontology, trig.label, ent.label)
        if not allowed:
            return None, 0.0
        c = _cues(sent, trig, ent)
        if c["reported"] and ent.label not in _PLACE_TYPES and ent.label != "TIME":
            return None, 0.0  # أعلنت وزارة الصحة مقتل ...: the source, not the agent
        if len(allowed) == 1:
            return allowed[0], 0.7
        has = set(allowed).__contains__
        # a noun right after the trigger with no preposition: its object (قصفت ... ميناء أوديسا)
        bare_object = (
            c["after"]
            and c["distance"] <= 3
            and not c["clitic"]
            and c["prev1"] not in _PREPOSITIONS
        )
        if ent.label in _PLACE_TYPES:
            if has("Destination") or has("Origin"):
                if c["origin_cue"] and has("Origin"):
                    return "Origin", 0.65
                if c["departure"] and c["after"] and c["distance"] <= 5 and has("Origin"):
                    return "Origin", 0.55
                if has("Destination"):
                    return "Destination", 0.6 if c["dest_cue"] else 0.45
            if c["place_cue"] and has("Place"):
                return "Place", 0.7
            if c["not_place_cue"] or c["dest_cue"] or c["origin_cue"]:
                return None, 0.0  # "with Gaza", "towards the sea": not where it happened
            if has("Attacker") and ent.label == "GPE":
                if (c["after"] and c["distance"] == 0) or (not c["after"] and c["distance"] <= 1):
                    return "Attacker", 0.5  # قصفت إسرائيل ...، إسرائيل تقصف ...
            if has("Target") and ent.label in ("FAC", "LOC") and (c["target_cue"] or bare_object):
                return "Target", 0.55
            return ("Place", 0.5) if has("Place") else (allowed[0], 0.35)
        if ent.label in ("WEA", "VEH"):
            if has("Vehicle") and ent.label == "VEH":
                return "Vehicle", 0.6
            if has("Target") and c["target_cue"]:
                return "Target", 0.55
            with_b = sent.norm[ent.first][:1] == "ب" and len(sent.norm[ent.first]) > 4
            if has("Target") and ent.label == "VEH" and bare_object and not with_b:
                return "Target", 0.5  # هاجم مسلحون حافلة؛ أسقطت الدفاعات طائرة
            if has("Instrument"):
                return "Instrument", 0.65
            return allowed[0], 0.4
        # persons, organisations, countries acting, counts
        if c["agent_cue"]:
            for r in ("Agent", "Attacker", "Entity"):
                if has(r):
                    return r, 0.6
        if has("Target") and c["target_cue"]:
            return "Target", 0.6
        if has("Attacker") and ent.label != "NUM":
            if not c["after"] or ent.label in ("ORG", "GPE"):
                return "Attacker", 0.55
            if has("Target"):
                return "Target", 0.5
        if ent.label in ("ORG", "GPE"):
            for r in ("Agent", "Entity", "Attacker"):
                if has(r):
                    return r, 0.55
        if has("Person") and has("Entity") and ent.label == "PER":
            # released: "أفرج عن X" -> Person; the releasing side comes before the trigger
            return ("Person", 0.55) if c["after"] or c["release_cue"] else ("Entity", 0.4)
        if has("Person") and has("Agent") and ent.label == "PER":
            return "Person", 0.55
        for r in _PARTICIPANT_ORDER:
            if has(r):
                return r, 0.5
        return allowed[0], 0.35


# --- the learned model --------------------------------------------------------------------------


def _bucket(d: int) -> str:
    return str(d) if d < 4 else ("4-6" if d < 7 else ("7-12" if d < 13 else "13+"))


_CUE_WORDS = _PLACE_CUES | _DEST_CUES | _ORIGIN_CUES | _TARGET_CUES | _AGENT_CUES | _RELEASE_CUES


def _pair_features(
    sent: _Sent,
    trig: _Item,
    ent: _Item,
    triggers: Sequence[_Item],
    nearest: bool,
    rule_role: str | None,
) -> list[str]:
    c = _cues(sent, trig, ent)
    et, lt = trig.label, ent.label
    d = "after" if c["after"] else "before"
    lo, hi = min(trig.first, ent.first), max(trig.last, ent.last)
    between_triggers = sum(1 for t in triggers if t is not trig and lo < t.first < hi)
    f = [
        "bias",
        f"t={et}|e={lt}",
        f"dir={d}|e={lt}",
        f"dir={d}|t={et}|e={lt}",
        f"dist={_bucket(c['distance'])}",
        f"dist={_bucket(c['distance'])}|e={lt}",
        f"prev1={c['prev1']}|e={lt}",
        f"prev2={c['prev2']}|e={lt}",
        f"clitic={c['clitic']}|e={lt}",
        f"clause={c['same_clause']}",
        f"segment={c['same_segment']}|e={lt}",
        f"nearest={nearest}|e={lt}",
        f"nearest={nearest}|dir={d}",
        f"trig_between={min(between_triggers, 2)}",
        f"tword={c['trigger_word']}|e={lt}",
        f"rule={rule_role}",
        f"rule={rule_role}|t={et}",
    ]
    for name in ("place_cue", "dest_cue", "origin_cue", "target_cue", "agent_cue", "release_cue"):
        if c[name]:
            f.append(f"{name}|e={lt}")
            f.append(f"{name}|t={et}|e={lt}")
    for w in set(c["between"]) & _CUE_WORDS:
        f.append(f"between={w}|e={lt}")
    return f


@dataclass
class ArgumentExample:
    """An annotated sentence: spans (dicts with start, end, label, kind) and gold arguments as
    (trigger index, entity index, role)."""

    text: str
    spans: list[dict]
    arguments: list[tuple[int, int, str]]


class ArgumentModel:
    """Multinomial logistic regression over trigger-entity pairs (numpy; see module docstring)."""

    name = "learned"

    def __init__(self, ontology: Ontology, l2: float = 1e-3, epochs: int = 300, lr: float = 0.5):
        self.ontology = ontology
        self.rules = ArgumentRules(ontology)
        self.classes = [NONE, *ontology.roles]
        self.l2, self.epochs, self.lr = l2, epochs, lr
        self.vocab: dict[str, int] = {}
        self.weights = np.zeros((0, len(self.classes)))
        self.trained_on = 0
        self.version = "args-learned-untrained"

    # pairs of one sentence with their features, allowed-class mask and rule answer
    def _pairs(self, text: str, spans: Sequence[Any]):
        sent = _sentence(text)
        triggers, entities = _items(sent, spans)
        rule_roles = {(a.trigger, a.entity): a.role for a in self.rules._predict(sent, spans)}
        for ent in entities:
            options = []
            for trig in triggers:
                if trig.first <= ent.last and ent.first <= trig.last:
                    continue
                allowed = allowed_roles(self.ontology, trig.label, ent.label)
                if allowed:
                    options.append((trig, allowed))
            if not options:
                continue

            def where(t: _Item, e: _Item = ent) -> tuple:
                gap = min(abs(e.first - t.last), abs(t.first - e.last))
                return (sent.clause[t.first] != sent.clause[e.first], gap, t.first < e.first)

            nearest = min((t for t, _ in options), key=where)
            for trig, allowed in options:
                rule = rule_roles.get((trig.index, ent.index))
                feats = _pair_features(sent, trig, ent, triggers, trig is nearest, rule)
                yield trig, ent, allowed, feats

    def fit(self, examples: Iterable[ArgumentExample]) -> ArgumentModel:
        rows, labels, masks = [], [], []
        index = {c: k for k, c in enumerate(self.classes)}
        n_sent = 0
        digest = hashlib.sha256(Path(__file__).read_bytes())
        for ex in examples:
            n_sent += 1
            digest.update(
                json.dumps([ex.text, ex.spans, ex.arguments], ensure_ascii=False).encode()
            )
            gold = {(t, e): r for t, e, r in ex.arguments}
            for trig, ent, allowed, feats in self._pairs(ex.text, ex.spans):
                role = gold.get((trig.index, ent.index), NONE)
                if role != NONE and role not in allowed:
                    continue  # an annotation the ontology does not allow: not learnable
                rows.append([self.vocab.setdefault(f, len(self.vocab)) for f in feats])
                labels.append(index[role])
                mask = np.full(len(self.classes), -np.inf)
                mask[0] = 0.0
                for r in allowed:
                    mask[index[r]] = 0.0
                masks.append(mask)
        self.trained_on = n_sent
        self.version = f"args-learned-{ARGUMENTS_VERSION}+{digest.hexdigest()[:10]}"
        k = len(self.classes)
        self.weights = np.zeros((len(self.vocab), k))
        if not rows:
            return self
        flat = np.fromiter((f for r in rows for f in r), dtype=np.int64)
        owner = np.repeat(np.arange(len(rows)), [len(r) for r in rows])
        offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])[:-1]])
        y = np.asarray(labels)
        mask = np.stack(masks)
        n = len(rows)
        # Adagrad on the mean cross-entropy + L2: converges in a few hundred full-batch steps.
        g2 = np.full_like(self.weights, 1e-8)
        rows_n = np.arange(n)
        last = np.inf
        for epoch in range(self.epochs):
            scores = np.add.reduceat(self.weights[flat], offsets, axis=0) + mask
            scores -= scores.max(axis=1, keepdims=True)
            p = np.exp(scores)
            p /= p.sum(axis=1, keepdims=True)
            if epoch % 10 == 0:  # stop once the loss no longer moves
                loss = -np.log(p[rows_n, y] + 1e-12).mean()
                if last - loss < 1e-4 * max(loss, 1e-3):
                    break
                last = loss
            p[rows_n, y] -= 1.0
            contrib = p[owner] / n
            # per class, np.bincount: far faster than np.add.at for the sparse gradient
            grad = np.stack(
                [
                    np.bincount(flat, weights=contrib[:, j], minlength=len(self.vocab))
                    for j in range(k)
                ],
                axis=1,
            )
            grad += self.l2 * self.weights
            g2 += grad * grad
            self.weights -= self.lr * grad / np.sqrt(g2)
        return self

    def predict(self, text: str, spans: Sequence[Any]) -> list[Argument]:
        out = []
        for trig, ent, allowed, feats in self._pairs(text, spans):
            ids = [self.vocab[f] for f in feats if f in self.vocab]
            scores = self.weights[ids].sum(axis=0) if ids else np.zeros(len(self.classes))
            mask = np.full(len(self.classes), -np.inf)
            mask[0] = 0.0
            for r in allowed:
                mask[self.classes.index(r)] = 0.0
            scores = scores + mask
            scores -= scores.max()
            p = np.exp(scores)
            p /= p.sum()
            best = int(np.argmax(p))
            if best != 0:
                role = self.classes[best]
                out.append(Argument(trig.index, ent.index, role, float(p[best]), "learned"))
        return out

    # JSON, so a model can be kept beside a workspace's state and read without pickle
    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "ontology_hash": self.ontology.hash,
            "classes": self.classes,
            "vocab": self.vocab,
            "weights": self.weights.round(6).tolist(),
            "trained_on": self.trained_on,
        }

    @classmethod
    def from_dict(cls, data: dict, ontology: Ontology) -> ArgumentModel:
        if data.get("ontology_hash") != ontology.hash or data.get("classes") != [
            NONE,
            *ontology.roles,
        ]:
            raise CorpusError(
                "The argument model was trained on another ontology.",
                "Pre-label again: it is retrained from the current annotations.",
            )
        m = cls(ontology)
        m.version, m.vocab, m.trained_on = data["version"], data["vocab"], data["trained_on"]
        m.weights = np.asarray(data["weights"], dtype=float).reshape(len(m.vocab), len(m.classes))
        return m


# --- training data from annotations, choosing a predictor, the batch step --------------------


def examples_from_annotations(annotations: pa.Table) -> list[ArgumentExample]:
    """Annotated sentences (not cancelled, with at least one trigger) as training examples."""
    cols = ["sentence_text", "entities", "triggers", "arguments", "cancelled"]
    out = []
    for row in annotations.select(cols).to_pylist():
        if row["cancelled"] or not row["triggers"] or not row["sentence_text"]:
            continue
        spans, where = [], {}
        for t in row["triggers"]:
            where[t["id"]] = len(spans)
            spans.append(
                {"start": t["start"], "end": t["end"], "label": t["event_type"], "kind": "trigger"}
            )
        for e in row["entities"]:
            where[e["id"]] = len(spans)
            spans.append(
                {"start": e["start"], "end": e["end"], "label": e["label"], "kind": "entity"}
            )
        args = [
            (where[a["trigger_id"]], where[a["entity_id"]], a["role"])
            for a in row["arguments"]
            if a["trigger_id"] in where and a["entity_id"] in where
        ]
        out.append(ArgumentExample(row["sentence_text"], spans, args))
    return out


MIN_LEARNED_ARGUMENTS = 30  # fewer annotated arguments than this: the rules do better
# Training runs inside `corpus prelabel`: past this many annotated sentences (a stable sample by
# text hash) more data changes little and only makes the command slower.
MAX_LEARNED_SENTENCES = 20_000


def get_argumenter(spec: str | None, workspace: Workspace | None, ontology: Ontology):
    """The argument predictor named by `spec` (default: `[prelabel] arguments`, else "auto"):
    "rules"; "learned" (trained now from data/annotations.parquet; an error without enough
    annotated arguments); "auto" (learned when the annotations hold at least
    MIN_LEARNED_ARGUMENTS arguments, else rules); "none" (no argument pre-labels: None)."""
    if spec is None:
        spec = (workspace.section("prelabel").get("arguments") if workspace else None) or "auto"
    spec = str(spec).strip()
    if spec == "none":
        return None
    if spec == "rules":
        return ArgumentRules(ontology)
    if spec not in ("learned", "auto"):
        raise CorpusError(
            f"Unknown argument pre-labeler {spec!r}.", 'Use "auto", "rules", "learned" or "none".'
        )
    examples: list[ArgumentExample] = []
    if workspace is not None and workspace.annotations_path.exists():
        from corpus.io import read_table

        examples = examples_from_annotations(read_table(workspace.annotations_path))
        if len(examples) > MAX_LEARNED_SENTENCES:
            examples.sort(key=lambda e: hashlib.sha256(e.text.encode()).digest())
            examples = examples[:MAX_LEARNED_SENTENCES]
    n_args = sum(len(e.arguments) for e in examples)
    if n_args < MIN_LEARNED_ARGUMENTS:
        if spec == "learned":
            raise CorpusError(
                f"Only {n_args} annotated arguments in data/annotations.parquet; the learned "
                f"argument pre-labeler needs at least {MIN_LEARNED_ARGUMENTS}.",
                'Annotate and `corpus pull` more, or use --arguments rules (or "auto").',
            )
        return ArgumentRules(ontology)
    return ArgumentModel(ontology).fit(examples)


def arguments_batch(predictions: pa.Table, texts: Sequence[str], argumenter) -> pa.Table:
    """A PREDICTIONS table with its `relations` column filled by `argumenter` (texts in row
    order). Relations point at spans by their index in the row's `spans` list."""
    import pyarrow as pa

    from corpus.schemas import PREDICTED_RELATION

    spans_col = predictions.column("spans").to_pylist()
    rels = []
    for text, spans in zip(texts, spans_col, strict=True):
        found = argumenter.predict(text, spans) if spans else []
        rels.append(
            [
                {
                    "trigger": a.trigger,
                    "entity": a.entity,
                    "role": a.role,
                    "score": round(a.score, 4),
                    "source": a.source,
                }
                for a in found
            ]
        )
    col = pa.array(rels, type=pa.list_(PREDICTED_RELATION))
    names = predictions.column_names
    if "relations" in names:
        return predictions.set_column(names.index("relations"), "relations", col)
    return predictions.append_column("relations", col)
