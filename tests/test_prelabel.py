"""The offline lexicon pre-labeler: clitics, phrases, rules, exact offsets on hard Arabic text."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus.ontology import default_ontology_path, load_ontology, validate_spans
from corpus.prelabel import (
    Prelabeler,
    PrelabelerError,
    default_prelabeler,
    get_prelabeler,
    prelabel_batch,
)
from corpus.prelabel.lexicon import (
    LexiconPrelabeler,
    ResourceError,
    Resources,
    clitic_readings,
    normalize_word,
    noun_forms,
    verb_forms,
    word_spans,
)
from corpus.schemas import PREDICTIONS, SENTENCES
from corpus.types import Span

EVAL = Path(__file__).parent / "data" / "prelabel_eval.jsonl"
ONTOLOGY = load_ontology(default_ontology_path())
PL = default_prelabeler()
RLM, LRM, ZWJ, ZWNJ, TATWEEL = "\u200f", "\u200e", "\u200d", "\u200c", "\u0640"
GRAPHEME = regex.compile(r"\X")


def found(text: str) -> list[tuple[str, str]]:
    """(label, exact text of the span) for every predicted span, in order."""
    return [(s.label, text[s.start : s.end]) for s in PL.predict(text)]


def has(text: str, label: str, piece: str) -> bool:
    return (label, piece) in found(text)


# --- normalisation and clitics ----------------------------------------------------------------


def test_normalize_word_uses_camel_rules():
    assert normalize_word("أُطلِقَ") == "اطلق"
    assert normalize_word("إصابة") == "اصابه"
    assert normalize_word("ألقى") == "القي"
    assert normalize_word("الهجـــوم") == "الهجوم"
    assert normalize_word("١٢") == "12"
    assert normalize_word("قت" + ZWJ + "ل") == "قتل"


def test_clitic_readings():
    r = clitic_readings(normalize_word("وبالهجوم"))
    assert r["الهجوم"] == 2 and r["هجوم"] == 3
    r = clitic_readings(normalize_word("للعراق"))
    assert r["العراق"] == 2  # ل + ال is written لل
    r = clitic_readings(normalize_word("مظاهرتهم"))
    assert r["مظاهره"] == 4  # ta marbuta is written ت before a suffix
    r = clitic_readings(normalize_word("سيلتقي"))
    assert r["يلتقي"] == 2
    assert "فر" not in clitic_readings("كفر")  # ك needs a noun of three letters or more


def test_generated_inflections():
    forms = verb_forms("ألقى", "يلقي")
    assert {"القي", "القت", "القوا", "يلقون", "تلقي"} <= forms
    assert {"قتلت", "قتلوا", "يقتلون", "تقتل"} <= verb_forms("قتل", "يقتل")
    assert "اقتل" not in verb_forms("قتل", "يقتل")  # 1st person singular is left out
    assert noun_forms("غارة") == {"غاره", "غارتان", "غارتين", "غارات"}
    assert {"هجوما", "هجومين"} <= noun_forms("هجوم")


@pytest.mark.parametrize(
    ("text", "label", "piece"),
    [
        ("وبالهجوم على القافلة", "Conflict.Attack", "وبالهجوم"),
        ("قتلوه أمام منزله", "Life.Die", "قتلوه"),
        ("فاعتقلتهم الشرطة", "Justice.Arrest-Jail", "فاعتقلتهم"),
        ("وسيلتقي الوزيران غدا", "Contact.Meet", "وسيلتقي"),
        ("خلال مظاهرتهم أمس", "Conflict.Demonstrate", "مظاهرتهم"),
        ("شنت الطائرات غاراتها", "Conflict.Attack", "غاراتها"),
        ("ألقاه الجنود", "Justice.Arrest-Jail", None),
        ("وصلت المساعدات للعراق", "GPE", "للعراق"),
        ("عاد اللاجئون وللبنان", "GPE", "وللبنان"),
        ("في بدمشق", "GPE", "بدمشق"),
        ("قاعدة في بالعراق", "GPE", "بالعراق"),
    ],
)
def test_clitics_and_inflections_are_matched(text, label, piece):
    if piece is None:  # ألقى alone is not an arrest: only ألقى القبض is
        assert all(lb != label for lb, _ in found(text))
    else:
        assert has(text, label, piece), found(text)


# --- phrases, blockers and rules --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "label", "piece"),
    [
        ("لقي ثلاثة أشخاص حتفهم في الانفجار", "Life.Die", "لقي"),
        ("لقي الجندي حتفه", "Life.Die", "لقي"),
        ("لقوا مصرعهم في الحادث", "Life.Die", "لقوا مصرعهم"),
        ("أطلق مسلحون النار على الدورية", "Conflict.Attack", "أطلق"),
        ("وأطلقوا النار على المحتجين", "Conflict.Attack", "وأطلقوا النار"),
        ("ألقت الشرطة القبض على المشتبه به", "Justice.Arrest-Jail", "ألقت"),
        ("وألقت القبض على اثنين", "Justice.Arrest-Jail", "وألقت القبض"),
        ("أطلق سراح الصحفي بعد يومين", "Justice.Release-Parole", "أطلق سراح"),
        ("أطلقت السلطات سراح الناشطين", "Justice.Release-Parole", "أطلقت"),
        ("قررت المحكمة إخلاء سبيل المعارض", "Justice.Release-Parole", "إخلاء سبيل"),
        ("نجا من محاولة اغتيال", "Conflict.Attack", "اغتيال"),
        ("أعلن اغتيال القيادي", "Life.Die", "اغتيال"),
        ("بحث مع نظيره سبل التعاون", "Contact.Meet", "بحث"),
    ],
)
def test_multiword_and_context_triggers(text, label, piece):
    assert has(text, label, piece), found(text)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("دعا إلى وقف إطلاق النار فورا", "Conflict.Attack"),
        ("نقلت وكالة رويترز عن مصدر أمني", "Movement.Transport"),
        ("دخل القرار حيز التنفيذ", "Movement.Transport"),
        ("خرجوا احتجاجاً على القرار", "Conflict.Demonstrate"),
        ("سجل ضربة جزاء في الدقيقة الأخيرة", "Conflict.Attack"),
        ("ودعا إلى بحث سبل التعاون", "Contact.Meet"),
        ("عقد مؤتمر صحفي في المساء", "Contact.Meet"),
    ],
)
def test_blocked_phrases_are_not_triggers(text, label):
    assert all(lb != label for lb, _ in found(text)), found(text)


@pytest.mark.parametrize(
    ("text", "piece"),
    [
        ("وقع الهجوم أمس الثلاثاء قرب الحدود", "أمس الثلاثاء"),
        ("قصفت الطائرات المنطقة صباح الأحد", "صباح الأحد"),
        ("قتل في 20 أبريل 2024 في الفاشر", "20 أبريل 2024"),
        ("منذ سبتمبر أيلول 2017 وحتى الآن", "سبتمبر أيلول 2017"),
        ("اعتقل الأسبوع الماضي في عمان", "الأسبوع الماضي"),
        ("وصل يوم الخميس إلى بغداد", "يوم الخميس"),
        ("أعلن النصر عام 2017", "عام 2017"),
        ("خلال شهر مارس الماضي", "شهر مارس"),
        ("اندلعت في الخامس من كانون الثاني", "كانون الثاني"),
    ],
)
def test_time_rules(text, piece):
    assert has(text, "TIME", piece), found(text)


def test_ambiguous_month_and_period_words_alone_are_not_time():
    assert all(lb != "TIME" for lb, _ in found("مارس الوزير ضغوطا على الأمين العام"))
    assert all(lb != "TIME" for lb, _ in found("دعا إلى إضراب عام في البلاد"))


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("أسفر الهجوم عن مقتل ثلاثة جنود وإصابة ١٢ آخرين", ["ثلاثة", "١٢"]),
        ("قُتل 23 شخصاً في القصف", ["23"]),
        ("اعتقلت الشرطة عشرات المحتجين", ["عشرات"]),
        ("نزح أكثر من 10 ملايين شخص", ["10 ملايين"]),
        ("قتلت امرأة وأطفالها الثلاثة في غارة", ["الثلاثة"]),
        ("أفرجت السلطات عن المحتجزين الـ25", ["الـ25"]),
        ("قُتل 3.5 مليون شخص", ["3.5 مليون"]),
    ],
)
def test_casualty_numbers(text, pieces):
    nums = [p for lb, p in found(text) if lb == "NUM"]
    assert nums == pieces, found(text)


@pytest.mark.parametrize(
    "text",
    [
        "قطعت القافلة 40 كيلومترا قبل أن تتعرض للقصف",  # a distance
        "أسقطت الدفاعات 12 طائرة مسيرة",  # not people
        "شارك عشرات الآلاف في مظاهرة حاشدة",  # protesters: no casualty event
        "وتمكن الدفاع المدني من إنقاذ سبعة أشخاص",  # rescued, no casualty event
        "قتل في عام 2014 خلال المعارك",  # a year is a date
    ],
)
def test_numbers_that_are_not_casualty_counts(text):
    assert all(lb != "NUM" for lb, _ in found(text)), found(text)


def test_gazetteers_with_hashtags_multiword_and_type_words():
    text = "هجوم على مقر قيادة قوات #سوريا_الديمقراطية في ريف #دير_الزور بتنظيم داعش"
    f = found(text)
    assert ("ORG", "قوات #سوريا_الديمقراطية") in f
    assert ("GPE", "دير_الزور") in f
    assert ("ORG", "بتنظيم داعش") in f  # the type word is part of the name
    assert has("أعلنت وزارة الدفاع الروسية", "ORG", "وزارة الدفاع الروسية")
    assert has("قال الجيش السوداني", "ORG", "الجيش السوداني")
    assert has("وصل إلى مطار برلين", "FAC", "مطار برلين")
    assert has("نقل إلى مستشفى الرنتيسي", "FAC", "مستشفى الرنتيسي")


def test_adjectives_are_not_names():
    # الأردني describes the minister, not the ministry: no ORG "الخارجية الأردني".
    assert all(lb != "ORG" for lb, _ in found("التقى وزير الخارجية الأردني نظيره"))
    # السعودية after a definite noun is the adjective; with tanween روسياً is one too.
    assert all(lb != "GPE" for lb, _ in found("أسقطت الدفاعات الجوية السعودية طائرة"))
    assert has("وصل الوفد إلى السعودية", "GPE", "السعودية")
    assert all(lb != "GPE" for lb, _ in found("استقبل وفداً برلمانياً روسياً"))


def test_persons_from_first_names_and_gazetteer():
    assert has("قال الناطق محمد الغنام إن", "PER", "محمد الغنام")
    assert has("ويدعى أبو فراس الهفل، في اتصال", "PER", "أبو فراس الهفل")
    assert has("التقى بشار الأسد في دمشق", "PER", "بشار الأسد")
    # A first name that is also a word needs a family name after it.
    assert all(lb != "PER" for lb, _ in found("صوت لصالح القرار"))


def test_weapons_and_vehicles_with_their_type_adjective():
    assert has("انفجار عبوة ناسفة", "WEA", "عبوة ناسفة")
    assert has("انفجرت سيارة مفخخة", "WEA", "سيارة مفخخة")
    assert has("أطلقت صاروخاً باليستياً", "WEA", "صاروخاً باليستياً")
    assert has("بطائرة مسيّرة تركية", "VEH", "بطائرة مسيّرة")
    assert has("قصف بطائرة مسيّرة على رتل", "VEH", "بطائرة مسيّرة")


def test_drone_or_march():
    assert has("مقتل سبعة مقاتلين بقصف مسيّرة على رتل", "VEH", "مسيّرة")
    assert has("خرج المئات في مسيرة نحو البرلمان", "Conflict.Demonstrate", "مسيرة")


# --- exact offsets on hard text ---------------------------------------------------------------


def test_offsets_with_diacritics_tatweel_and_marks():
    text = f"{RLM}قُتِلَ ثَلاثَةُ جُنودٍ في الهجـــوم على #دير_الزور 🔴 صباح{ZWNJ} الأحد."
    got = found(text)
    assert ("Life.Die", "قُتِلَ") in got
    assert ("NUM", "ثَلاثَةُ") in got
    assert ("Conflict.Attack", "الهجـــوم") in got
    assert ("GPE", "دير_الزور") in got
    for s in PL.predict(text):
        assert text[s.start] != RLM and not text[s.start].isspace()


def test_invisible_marks_inside_a_word_stay_inside_the_span():
    text = f"أعلنت الشرطة اعتق{ZWJ}ال ثلاثة في بغ{RLM}داد"
    got = found(text)
    assert ("Justice.Arrest-Jail", f"اعتق{ZWJ}ال") in got
    assert ("GPE", f"بغ{RLM}داد") in got


def test_glued_paragraphs_and_quotes():
    text = 'قال "قُتل خمسة" في حلب., وأضاف «اعتقل عشرة» أمس'
    got = found(text)
    assert ("Life.Die", "قُتل") in got and ("GPE", "حلب") in got
    assert ("Justice.Arrest-Jail", "اعتقل") in got and ("TIME", "أمس") in got


def test_words_do_not_cross_punctuation():
    # A name or phrase never spans a comma or quote.
    assert all(p != "دير الزور" for _, p in found("دير، الزور"))
    assert ("Life.Die", "لقي") not in found("لقي: حتفه")


def test_no_spans_on_empty_or_non_arabic_text():
    assert PL.predict("") == []
    assert PL.predict("   \n ") == []
    assert PL.predict("The quick brown fox 🦊 123") == []


def test_predict_batch_matches_predict():
    texts = ["قتل خمسة في حلب", "", "اجتمع الوزير بنظيره في القاهرة أمس"]
    assert PL.predict_batch(texts) == [PL.predict(t) for t in texts]


def test_default_prelabeler_is_a_prelabeler():
    assert isinstance(PL, Prelabeler)
    assert PL.name == "lexicon" and PL.version.startswith("lexicon-1+")
    assert get_prelabeler("lexicon").version == PL.version


def test_unknown_spec_is_an_error():
    with pytest.raises(PrelabelerError, match="Unknown pre-labeler 'spacy'"):
        get_prelabeler("spacy")


# --- properties that hold for every input -----------------------------------------------------

_LEX_WORDS = [
    "قتل", "مقتل", "وأصيب", "هجوم", "بالهجوم", "اعتقال", "أطلق", "سراح", "النار", "لقي", "حتفه",
    "دمشق", "بغداد", "قطاع", "غزة", "دير", "الزور", "حزب", "الله", "وزارة", "الدفاع", "الروسية",
    "الجيش", "السوري", "محمد", "الغنام", "مطار", "برلين", "أمس", "الثلاثاء", "صباح", "عام",
    "2017", "ثلاثة", "١٢", "عشرات", "المدنيين", "مسيّرة", "عبوة", "ناسفة", "وقف", "إطلاق",
    "تنظيم", "داعش", "الـ25", "أبو", "فراس", "كانون", "الثاني", "شهر", "مارس",
]  # fmt: skip
_NOISE = st.sampled_from(
    [" ", "  ", "\n", "_", "#", ".,", "،", "«", "»", '"', "-", ":", RLM, LRM, ZWJ, ZWNJ, TATWEEL,
     "\u064e", "\u0651", "\u064b", "\u0670", "🔴", "🇵🇸", "\u0301", "a", "٣", "\ufeff",
     "\U0001f3fb", "\u0600", "\u0903"]
)  # fmt: skip
_TEXTS = st.lists(
    st.one_of(st.sampled_from(_LEX_WORDS), _NOISE, st.text(max_size=4)), max_size=30
).map(lambda parts: "".join(p if i % 2 == 0 else " " + p for i, p in enumerate(parts)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXTS)
def test_every_span_is_valid_for_any_text(text):
    spans = PL.predict(text)
    bounds = {m.start() for m in GRAPHEME.finditer(text)} | {len(text)}
    last_end = -1
    for s in spans:
        assert 0 <= s.start < s.end <= len(text)
        assert s.start >= last_end, "spans overlap or are out of order"
        last_end = s.end
        assert s.start in bounds and s.end in bounds, "a span cuts a character"
        assert not text[s.start].isspace() and not text[s.end - 1].isspace()
        assert ONTOLOGY.kind_of(s.label) == s.kind
        assert 0 < s.score <= 1 and s.source == "lexicon"
    good, bad = validate_spans(spans, text, ONTOLOGY)
    assert bad == []


def _eval_texts() -> list[str]:
    return [json.loads(line)["text"] for line in EVAL.read_text(encoding="utf-8").splitlines()]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(_eval_texts()), st.randoms(use_true_random=False))
def test_diacritics_and_tatweel_inside_words_change_no_label(text, rnd):
    """Adding diacritics or tatweel inside words moves offsets but changes no span."""
    out, where = [], []  # where[i]: index of text[i] in the new text
    for i, ch in enumerate(text):
        where.append(len(out))
        out.append(ch)
        inner = (
            "\u0621" <= ch <= "\u064a" and i + 1 < len(text) and "\u0621" <= text[i + 1] <= "\u064a"
        )
        if inner and rnd.random() < 0.3:
            out.append(rnd.choice(["\u064e", "\u064f", "\u0650", "\u0651", "\u0652", TATWEEL]))
    new = "".join(out)
    before = [
        (s.label, where[s.start], where[s.end - 1 - _trailing_marks(text, s.end)])
        for s in PL.predict(text)
    ]
    after = [(s.label, s.start, s.end - 1 - _trailing_marks(new, s.end)) for s in PL.predict(new)]
    assert after == before


def _trailing_marks(text: str, end: int) -> int:
    n = 0
    while end - 1 - n >= 0 and regex.match(r"[\p{M}\u0640]", text[end - 1 - n]):
        n += 1
    return n


# --- batches, schema and invalid spans --------------------------------------------------------


def _sentences(texts: list[str]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "sentence_id": f"s{i}",
                "article_id": "a1",
                "index": i,
                "start": 0,
                "end": len(t),
                "text": t,
            }
            for i, t in enumerate(texts)
        ],
        schema=SENTENCES,
    )


def test_prelabel_batch_writes_the_predictions_schema():
    table = prelabel_batch(_sentences(["قتل خمسة في حلب", "لا شيء هنا"]), PL, ONTOLOGY)
    assert table.select(PREDICTIONS.names).schema == PREDICTIONS
    rows = table.to_pylist()
    assert [(r["rejected"], r["reject_reason"]) for r in rows] == [([], None), ([], None)]
    assert [r["sentence_id"] for r in rows] == ["s0", "s1"]
    assert rows[0]["source"] == "lexicon" and rows[0]["model_version"] == PL.version
    assert [(s["label"], s["kind"]) for s in rows[0]["spans"]] == [
        ("Life.Die", "trigger"), ("NUM", "entity"), ("GPE", "entity"),
    ]  # fmt: skip
    assert rows[1]["spans"] == []
    # The float32 score round-trips within float32 precision.
    assert abs(rows[0]["spans"][0]["score"] - PL.predict("قتل خمسة في حلب")[0].score) < 1e-6


class _Broken:
    name, version = "broken", "0"

    def predict_batch(self, texts):
        return [
            [Span(0, 3, "Life.Die", "trigger", 0.5, "x"), Span(0, 99, "GPE", "entity")]
            for _ in texts
        ]


def test_invalid_spans_come_back_as_rows_with_their_reason():
    arg = _sentences(["قتل خمسة في حلب"])
    before = arg.to_pylist()
    table = prelabel_batch(arg, _Broken(), ONTOLOGY)
    assert arg.to_pylist() == before  # nothing passed in is changed
    (row,) = table.to_pylist()
    assert [s["label"] for s in row["spans"]] == ["Life.Die"] and row["reject_reason"] is None
    (bad,) = row["rejected"]
    assert "GPE (entity)" in bad["reason"] and "outside the sentence" in bad["reason"]
    assert json.loads(bad["raw"])["span"]["end"] == 99


class _Flaky:
    """Fails on one sentence: only that sentence is rejected."""

    name, version = "flaky", "0"

    def predict_batch(self, texts):
        if any("حلب" in t for t in texts):
            raise RuntimeError("model fell over")
        return [[] for _ in texts]


def test_a_sentence_the_prelabeler_fails_on_comes_back_with_a_reason():
    table = prelabel_batch(_sentences(["قتل خمسة في حلب", "لا شيء هنا"]), _Flaky(), ONTOLOGY)
    rows = table.to_pylist()
    assert "RuntimeError: model fell over" in rows[0]["reject_reason"]
    assert rows[1]["reject_reason"] is None and rows[1]["spans"] == []


# --- resources ----------------------------------------------------------------------------------


def test_resources_have_hundreds_of_trigger_entries_with_multiword_ones():
    res = PL.resources
    triggers = [p for p in res.patterns if p.kind == "trigger"]
    assert len(triggers) >= 200
    assert sum(1 for p in triggers if p.size > 1) >= 30
    assert set(ONTOLOGY.event_types) == {p.label for p in triggers}
    gaz = {p.label for p in res.patterns if p.prio == 3}
    assert gaz == {"GPE", "LOC", "ORG", "FAC", "PER"}


def test_a_malformed_resource_file_names_file_and_line(tmp_path):
    src = Path(PL.resources.directory)
    res_dir = tmp_path / "res"
    shutil.copytree(src, res_dir)
    path = res_dir / "triggers.tsv"
    path.write_text(path.read_text(encoding="utf-8") + "Life.Die\tQ\tقتل\n", encoding="utf-8")
    n = len(path.read_text(encoding="utf-8").splitlines())
    with pytest.raises(ResourceError, match=rf"triggers.tsv:{n}: unknown class 'Q'"):
        Resources(res_dir)


def test_custom_resources_are_used(tmp_path):
    res_dir = tmp_path / "res"
    shutil.copytree(Path(PL.resources.directory), res_dir)
    with (res_dir / "gpe.txt").open("a", encoding="utf-8") as f:
        f.write("قرية الاختبار\n")
    custom = LexiconPrelabeler(Resources(res_dir))
    text = "وصلوا إلى قرية الاختبار"
    assert ("GPE", "قرية الاختبار") in [
        (s.label, text[s.start : s.end]) for s in custom.predict(text)
    ]
    assert custom.version != PL.version


def test_word_spans():
    text = f"#دير_الزور، {RLM}قُتِلَ 3.5 و١٢"
    assert [text[s:e] for s, e in word_spans(text)] == ["دير", "الزور", "قُتِلَ", "3.5", "و١٢"]


def test_random_sentences_from_the_eval_set_keep_offsets_on_words():
    rnd = random.Random(7)
    texts = _eval_texts()
    for text in rnd.sample(texts, 40):
        starts = {s for s, _ in word_spans(text)}
        ends = {e for _, e in word_spans(text)}
        for s in PL.predict(text):
            assert s.start in starts and s.end in ends
