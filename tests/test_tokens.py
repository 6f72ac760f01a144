"""Tokens with exact offsets and BIO tags (`corpus.publish.tokens`): rules on Arabic text, agreement
with camel-tools, and the fast batch path agreeing with the per-item core on every input."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from corpus.publish.tokens import (
    SEPARATORS,
    TokenTagger,
    alignment_counts,
    bio_names,
    bio_tags,
    token_spans,
    tokenize,
    tokenize_batch,
)

# --- explicit Arabic cases ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, tokens",
    [
        # diacritics and tatweel stay inside the word
        ("قُتِلَ الجنديُّ", ["قُتِلَ", "الجنديُّ"]),
        ("الحـــرب مستمـرة", ["الحـــرب", "مستمـرة"]),
        # Arabic punctuation, and `.,` glued between paragraphs
        (
            "قال: هل انتهى؟ نعم،انتهى؛ ثم.,بدأ",
            ["قال", ":", "هل", "انتهى", "؟", "نعم", "،", "انتهى", "؛", "ثم", ".", ",", "بدأ"],
        ),
        # Arabic-Indic and Latin digits stay whole, attached letters too
        (
            "قتل ١٢٣ شخصا في 2024م و٣٫٥ مليون",
            ["قتل", "١٢٣", "شخصا", "في", "2024م", "و٣", "٫", "٥", "مليون"],
        ),
        # a hashtag is one token, even with underscores and digits; a bare # is punctuation
        ("عاجل #دير_الزور #غزة_2024 # و#", ["عاجل", "#دير_الزور", "#غزة_2024", "#", "و", "#"]),
        # underscore outside a hashtag splits like camel-tools
        ("a_b", ["a", "_", "b"]),
        # emoji: single, with VS16, skin tone, ZWJ family, flag, keycap
        (
            "😀😀 ❤️ 👍🏽 👨\u200d👩\u200d👧 🇸🇾 1️⃣",
            ["😀", "😀", "❤️", "👍🏽", "👨\u200d👩\u200d👧", "🇸🇾", "1️⃣"],
        ),
        # direction marks separate tokens and are never part of one
        ("\u200fقال\u200f الجيش\u061cإن", ["قال", "الجيش", "إن"]),
        # every kind of whitespace separates
        ("أ\u00a0ب\u2009ج\nد\te\x1cf", ["أ", "ب", "ج", "د", "e", "f"]),
        ("", []),
        (" \n ", []),
    ],
)
def test_tokens_on_arabic_text(text, tokens):
    assert tokenize(text) == tokens
    assert tokenize_batch([text])["tokens"].to_pylist() == [tokens]


def test_offsets_are_code_points():
    text = "👍🏽 قُتل"  # the emoji is 2 code points, 4 UTF-16 units
    assert token_spans(text) == [(0, 2), (3, 7)]
    t = tokenize_batch([text, "", text])
    assert t["token_starts"].to_pylist() == [[0, 3], [], [0, 3]]
    assert t["token_ends"].to_pylist() == [[2, 7], [], [2, 7]]


# --- properties ---------------------------------------------------------------------------------

ARABIC = "ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأإؤئىة"
PIECES = st.sampled_from(
    [
        *ARABIC,
        "\u064b", "\u064e", "\u0650", "\u0651", "\u0652", "\u0640",  # diacritics, tatweel
        *"0123456789", *"٠١٢٣٤٥٦٧٨٩", "٫", "٪",
        *"abcXYZ", *".,:;!?()[]\"'-/", "،", "؛", "؟", "…", "«", "»",
        "#", "_", "*", "@", "$", "%", "+", "=",
        " ", "  ", "\n", "\t", "\u00a0", "\u2009", "\x1c", "\u200f", "\u200e", "\u061c",
        "😀", "😢", "❤️", "🔥", "👍🏽", "🇸🇾", "🇪🇬", "1️⃣", "#️⃣", "👨\u200d👩\u200d👧", "©",
        "\ufe0f", "\u200d", "\u20e3", "\U0001f3fd", "\U0001f1f8", "\u200c",
    ]
)  # fmt: skip
TEXTS = st.lists(PIECES, max_size=40).map("".join)
ANY_TEXT = st.text(
    alphabet=st.characters(exclude_categories=("Cs",)), max_size=60
)  # everything Unicode has, surrogates aside


def _check_tokens(text: str) -> None:
    spans = token_spans(text)
    covered = set()
    last = 0
    for a, b in spans:
        assert last <= a < b <= len(text)  # ordered, non-empty, non-overlapping
        last = b
        tok = text[a:b]
        assert not any(c in SEPARATORS for c in tok)
        covered.update(range(a, b))
    # every character that is not a separator belongs to a token
    assert {i for i, c in enumerate(text) if c not in SEPARATORS} == covered


@settings(deadline=None)  # the first example builds the lookup tables
@given(TEXTS)
@example("#دير_الزور")
@example("#️⃣#a")
def test_every_token_slices_back_and_covers_every_non_space_character(text):
    _check_tokens(text)


@settings(deadline=None)
@given(ANY_TEXT)
def test_token_rules_hold_for_any_unicode(text):
    _check_tokens(text)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=150, deadline=None)
@given(st.lists(st.one_of(TEXTS, ANY_TEXT), max_size=8))
@example(["x#", "a_b", "", "#", "_c"])  # a hashtag never continues into the next text
def test_batch_tokenizer_agrees_with_the_core(texts):
    t = tokenize_batch(texts)
    assert t["tokens"].to_pylist() == [tokenize(x) for x in texts]
    starts, ends = t["token_starts"].to_pylist(), t["token_ends"].to_pylist()
    for text, s, e in zip(texts, starts, ends, strict=True):
        assert list(zip(s, e, strict=True)) == token_spans(text)


CAMEL_PIECES = st.sampled_from(
    [*ARABIC, "\u064e", "\u0651", "\u0640", *"0123456789", *"٠١٢٣", *"abc", *".,:;!?()-/", "،", "؛", "؟",
     "_", "*", "$", "%", " ", "  ", "\n", "😀", "🔥", "❤️", "👍🏽", "🇸🇾"]
)  # fmt: skip


@settings(deadline=None)  # the first example imports camel-tools
@given(st.lists(CAMEL_PIECES, max_size=40).map("".join))
@example("قال: هل انتهى؟ نعم،انتهى.,ثم 😀😀")
def test_same_tokens_as_camel_tools_without_hashtags(text):
    from camel_tools.tokenizers.word import simple_word_tokenize

    assert tokenize(text) == simple_word_tokenize(text)


def test_hashtag_is_the_only_difference_from_camel_tools():
    from camel_tools.tokenizers.word import simple_word_tokenize

    assert simple_word_tokenize("#دير_الزور") == ["#", "دير", "_", "الزور"]
    assert tokenize("#دير_الزور") == ["#دير_الزور"]


# --- BIO tags -----------------------------------------------------------------------------------


def test_bio_names_order():
    assert bio_names(["PER", "ORG"]) == ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]


def test_bio_tags_aligned_misaligned_overlapping_and_empty():
    text = "قال والجيش إن مطار بغداد  مغلق"
    toks = token_spans(text)  # قال | والجيش | إن | مطار | بغداد | مغلق
    s_army = text.index("الجيش")
    s_fac = text.index("مطار")
    s_city = text.index("بغداد")
    gap = text.index("  ")
    spans = [
        (s_army, s_army + 5, 1),  # edge inside والجيش: tagged, misaligned
        (s_fac, s_city + 5, 0),  # مطار بغداد
        (s_city, s_city + 5, 2),  # nested inside the previous one: dropped
        (gap, gap + 2, 0),  # whitespace only: dropped
    ]
    tags, counts = bio_tags(toks, spans)
    assert tags == [0, 3, 0, 1, 2, 0]
    assert counts.as_dict() == {
        "spans": 4,
        "tagged": 2,
        "misaligned": 1,
        "overlapping": 1,
        "empty": 1,
    }


def test_earlier_then_longer_span_wins_an_overlap():
    text = "أ ب ج د"
    toks = token_spans(text)
    tags, c = bio_tags(toks, [(2, 5, 1), (0, 3, 0)])  # "ب ج" and "أ ب"
    assert tags == [1, 2, 0, 0] and c.overlapping == 1
    tags, c = bio_tags(toks, [(0, 1, 1), (0, 5, 0)])  # same start: the longer wins
    assert tags == [1, 2, 2, 0] and c.overlapping == 1


@st.composite
def tagged_batches(draw):
    texts = draw(st.lists(TEXTS, min_size=1, max_size=6))
    rows = []
    for i, text in enumerate(texts):
        spans = []
        for kind in ("entities", "triggers"):
            items = []
            if text:
                for _ in range(draw(st.integers(0, 5))):
                    a = draw(st.integers(0, len(text) - 1))
                    b = draw(st.integers(a + 1, len(text)))
                    label = draw(st.sampled_from(["A", "B", "C"]))
                    key = "label" if kind == "entities" else "event_type"
                    items.append({"start": a, "end": b, key: label})
            spans.append(items)
        rows.append({"id": f"s{i}", "text": text, "entities": spans[0], "triggers": spans[1]})
    return rows


SPAN = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("label", pa.string())])
TRIG = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("event_type", pa.string())])
BATCH = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("entities", pa.list_(SPAN)),
        ("triggers", pa.list_(TRIG)),
    ]
)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=150, deadline=None)
@given(tagged_batches())
def test_batch_bio_tags_agree_with_the_core(rows):
    types = ["A", "B", "C"]
    tagger = TokenTagger(types, types)
    out = tagger(pa.Table.from_pylist(rows, schema=BATCH))
    out_rows = out.to_pylist()
    want_totals = {"entities": {}, "triggers": {}}
    for row, got_row in zip(rows, out_rows, strict=True):
        toks = token_spans(row["text"])
        for kind, tag_col, key in (
            ("entities", "ner_tags", "label"),
            ("triggers", "trigger_tags", "event_type"),
        ):
            spans = [(s["start"], s["end"], types.index(s[key])) for s in row[kind]]
            tags, counts = bio_tags(toks, spans)
            assert got_row[tag_col] == tags
            # Counts are columns, per row: nothing accumulates on the tagger.
            assert {k: got_row[f"{kind}_{k}"] for k in counts.as_dict()} == counts.as_dict()
            for k, v in counts.as_dict().items():
                want_totals[kind][k] = want_totals[kind].get(k, 0) + v
    got_totals = alignment_counts(out)
    for kind in ("entities", "triggers"):
        assert got_totals[kind] == {k: want_totals[kind].get(k, 0) for k in got_totals[kind]}


def test_tagger_rejects_unknown_labels_and_bad_offsets():
    tagger = TokenTagger(["PER"], ["Attack"])
    row = {
        "id": "s1",
        "text": "قال زيد",
        "entities": [{"start": 4, "end": 7, "label": "ORG"}],
        "triggers": [],
    }
    with pytest.raises(ValueError, match="sentence s1: entity label 'ORG' is not in the ontology"):
        tagger(pa.Table.from_pylist([row], schema=BATCH))
    row["entities"] = [{"start": 4, "end": 99, "label": "PER"}]
    with pytest.raises(ValueError, match=r"span \[4, 99\) is outside the sentence"):
        tagger(pa.Table.from_pylist([row], schema=BATCH))
