"""Small training data the train tests build themselves: Arabic news-like sentences about invented
people, places and groups (names no gazetteer knows), with gold entity and trigger spans."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pyarrow as pa

from corpus.ids import content_id
from corpus.io import write_table
from corpus.schemas import ANNOTATIONS, SENTENCES
from corpus.train import Example
from corpus.types import Span
from corpus.workspace import Workspace

_LETTERS = "بتجدرزسشطعغفقكلمنهي"
_VOWELS = "اوي"

# {P} person, {G} place, {O} organisation name (after its type word), [word|Event.Type] trigger.
TEMPLATES = [
    "قال {P} إن القوات وصلت إلى {G} صباح اليوم .",
    "التقى {P} مع {P} في {G} لبحث الأوضاع .",
    "أعلنت {O} أن {P} غادر {G} أمس .",
    "[هاجم|Conflict.Attack] مسلحون قرية قرب {G} [وقتلوا|Life.Die] ثلاثة أشخاص .",
    "ذكرت مصادر أن {P} [أصيب|Life.Injure] في {G} .",
    "وصل وفد من {O} إلى {G} برئاسة {P} .",
    "[تظاهر|Conflict.Demonstrate] مئات في {G} ضد {O} .",
    "أكد {P} أن {O} لن تنسحب من {G} .",
]


def invented_word(rng: random.Random) -> str:
    n = rng.randint(2, 3)
    return "".join(rng.choice(_LETTERS) + rng.choice(_VOWELS) for _ in range(n)) + rng.choice(
        _LETTERS
    )


def make_examples(n: int, seed: int = 0) -> list[Example]:
    """`n` sentences with fresh invented names (a different seed gives different names)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        tpl = TEMPLATES[i % len(TEMPLATES)]
        text, spans = "", []
        k = 0
        while k < len(tpl):
            if tpl.startswith("{P}", k):
                name = invented_word(rng) + " " + invented_word(rng)
                spans.append(Span(len(text), len(text) + len(name), "PER", "entity"))
                text += name
                k += 3
            elif tpl.startswith("{G}", k):
                name = invented_word(rng)
                spans.append(Span(len(text), len(text) + len(name), "GPE", "entity"))
                text += name
                k += 3
            elif tpl.startswith("{O}", k):
                name = "حركة " + invented_word(rng)
                spans.append(Span(len(text), len(text) + len(name), "ORG", "entity"))
                text += name
                k += 3
            elif tpl[k] == "[":
                close = tpl.index("]", k)
                word, event = tpl[k + 1 : close].split("|")
                spans.append(Span(len(text), len(text) + len(word), event, "trigger"))
                text += word
                k = close + 1
            else:
                text += tpl[k]
                k += 1
        out.append(Example(text, spans, f"syn-{seed}-{i}", f"art-{seed}-{i // 4}"))
    return out


def annotation_rows(examples: list[Example]) -> list[dict]:
    """ANNOTATIONS rows (one annotator, submitted) holding the examples' spans."""
    when = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for n, ex in enumerate(examples):
        ents = [
            {"id": f"e{n}-{j}", "start": s.start, "end": s.end, "label": s.label,
             "text": ex.text[s.start : s.end]}
            for j, s in enumerate(ex.spans) if s.kind == "entity"
        ]  # fmt: skip
        trigs = [
            {"id": f"t{n}-{j}", "start": s.start, "end": s.end, "event_type": s.label,
             "text": ex.text[s.start : s.end]}
            for j, s in enumerate(ex.spans) if s.kind == "trigger"
        ]  # fmt: skip
        rows.append(
            {
                "annotation_id": n + 1,
                "task_id": 1000 + n,
                "project_id": 7,
                "sentence_id": sentence_id(ex),
                "article_id": ex.group,
                "annotator": "ann-1",
                "created_at": when,
                "updated_at": when,
                "lead_time": 10.0,
                "cancelled": False,
                "prediction_id": None,
                "prediction_model_version": "lexicon-1",
                "sentence_text": ex.text,
                "entities": ents,
                "triggers": trigs,
                "arguments": [],
                "choice": "has-event",
                "raw_result": "[]",
            }
        )
    return rows


def sentence_id(ex: Example) -> str:
    return content_id(ex.group, ex.id, prefix="s")


def write_annotations(ws: Workspace, examples: list[Example]) -> None:
    table = pa.Table.from_pylist(annotation_rows(examples), schema=ANNOTATIONS)
    write_table(ws.annotations_path, table, ANNOTATIONS)


def write_sentences(ws: Workspace, examples: list[Example]) -> None:
    rows = [
        {"sentence_id": sentence_id(ex), "article_id": ex.group, "index": i, "start": 0,
         "end": len(ex.text), "text": ex.text}
        for i, ex in enumerate(examples)
    ]  # fmt: skip
    write_table(ws.sentences_path, pa.Table.from_pylist(rows, schema=SENTENCES), SENTENCES)
