"""Regression tests for what real text showed the lexicon getting wrong (issue 13, item 6), and
for workspace gazetteers. Every sentence here was written for these tests."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import corpus.cli
from corpus.errors import CorpusError
from corpus.ids import content_id
from corpus.io import write_table
from corpus.prelabel import get_prelabeler
from corpus.prelabel.lexicon import LexiconPrelabeler, ResourceError
from corpus.schemas import SENTENCES
from corpus.workspace import Workspace


@pytest.fixture(scope="module")
def pl() -> LexiconPrelabeler:
    return LexiconPrelabeler()


def spans(pl, text: str) -> set[tuple[str, str]]:
    """{(label, covered text)} of the prediction."""
    return {(s.label, text[s.start : s.end]) for s in pl.predict(text)}


def labels_of(pl, text: str, word: str) -> set[str]:
    return {label for label, t in spans(pl, text) if word in t}


# --- common words read as places or names ----------------------------------------------------


@pytest.mark.parametrize(
    "text, word",
    [
        ("كيف يمكن وقف الحرب في أوكرانيا؟", "كيف"),
        ("وكيف سيرد الجيش على ذلك؟", "وكيف"),
        ("هطلت سيول جارفة على القرى الجبلية أمس.", "سيول"),
        ("وقف الطفل في الزاوية الشرقية من الغرفة.", "الزاوية"),
        ("الخمس دول الكبرى تناقش الملف.", "الخمس"),
        ("التقى القائم بالأعمال الأمريكي وزير الخارجية.", "القائم"),
        ("أكد المسؤول وجود قوات أجنبية في المنطقة.", "وجود"),
        ("أشار إلى وجود عمليات تهريب واسعة.", "وجود"),
        ("أغلق الحارس الباب بإحكام.", "الباب"),
        ("وقع الطرفان الاتفاق في إطار المصالحة.", "إطار"),
        ("ومع ذلك رفض الوزير الطلب.", "ومع"),
        ("نحن نجد صعوبة في الوصول.", "نجد"),
    ],
)
def test_common_words_are_not_names(pl, text, word):
    assert labels_of(pl, text, word) & {"GPE", "LOC", "PER", "ORG"} == set()


@pytest.mark.parametrize(
    "text, name",
    [
        ("قتل ثلاثة أشخاص في مدينة الزاوية غرب طرابلس.", "الزاوية"),
        ("وصلت التعزيزات إلى الخمس شرق العاصمة.", "الخمس"),
        ("اشتباكات عنيفة قرب القائم على الحدود.", "القائم"),
        ("زار الرئيس الكوري سيول بعد القمة، ثم توجه إلى سيول مجددا.", "سيول"),
        ("وصل الرئيس إلى كييف أمس.", "كييف"),
    ],
)
def test_places_that_are_common_words_after_a_place_cue(pl, text, name):
    assert ("GPE", name) in spans(pl, text)


# --- persons ---------------------------------------------------------------------------------


def test_person_rule_stops_at_a_conjunction(pl):
    text = "التقى محمد علي وأحمد حسن في القاهرة."
    found = spans(pl, text)
    assert not any(label == "PER" and "علي وأحمد" in t for label, t in found)
    assert ("PER", "وأحمد حسن") in found


def test_person_rule_does_not_take_a_preposition_word(pl):
    text = "وطالب خالد بالتحدث إلى الصحفيين."
    assert not any(label == "PER" and "بالتحدث" in t for label, t in spans(pl, text))


def test_a_first_name_and_ben_before_a_known_name_join_it(pl):
    text = "استقبل الشيخ حمدان بن محمد بن راشد آل مكتوم الوفد."
    assert ("PER", "حمدان بن محمد بن راشد آل مكتوم") in spans(pl, text)
    assert ("PER", "أبو محمد الجولاني") in spans(pl, "قال أبو محمد الجولاني إن الهجوم فشل.")


def test_long_names_keep_their_family_name(pl):
    text = "استقبل الأمير سلطان بن فهد بن ناصر آل سعود الوفد."
    found = spans(pl, text)
    assert ("PER", "سلطان بن فهد بن ناصر آل سعود") in found
    # never a name that ends on a particle
    assert not any(label == "PER" and t.split()[-1] in ("بن", "آل") for label, t in found)


# --- type words: the documented convention ---------------------------------------------------


def test_type_word_convention(pl):
    text = "رحب بمنظمة الأمم المتحدة ووصل إلى محافظة دير الزور ثم إلى وادي الفرات."
    found = spans(pl, text)
    assert ("ORG", "بمنظمة الأمم المتحدة") in found  # ORG: the type word is in
    assert ("GPE", "دير الزور") in found  # GPE: the administrative classifier is out
    assert ("LOC", "وادي الفرات") in found  # LOC: the feature word is in
    assert ("LOC", "نهر الأردن") in spans(pl, "عبروا نهر الأردن ليلا.")


# --- Latin script, wider gazetteers ----------------------------------------------------------


def test_latin_script_organisations(pl):
    text = "ذكرت شبكة CNN أن شركة IBM وقعت عقدا مع شركة Dell أمس."
    found = spans(pl, text)
    assert ("ORG", "شبكة CNN") in found
    assert ("ORG", "شركة IBM") in found
    assert ("ORG", "شركة Dell") in found
    assert ("ORG", "وCNN") in spans(pl, "نقلت رويترز وCNN الخبر.")


@pytest.mark.parametrize(
    "text, label, name",
    [
        ("وصل المبعوث إلى كابول قادما من إسلام آباد.", "GPE", "كابول"),
        ("شهدت غروزني عاصمة الشيشان هدوءا حذرا.", "GPE", "غروزني"),
        ("انفجرت قنبلة في تيزي وزو شرق العاصمة الجزائرية.", "GPE", "تيزي وزو"),
        ("تظاهر المئات في الناظور والحسيمة شمال المغرب.", "GPE", "الناظور"),
        ("اعتقلت الشرطة ثلاثة أشخاص في سيدي بوزيد.", "GPE", "سيدي بوزيد"),
        ("نقلت وكالة إنترفاكس عن مسؤول أمني أن الهجوم فشل.", "ORG", "وكالة إنترفاكس"),
        ("فاز حزب العدالة والتنمية بأغلبية المقاعد.", "ORG", "حزب العدالة والتنمية"),
        ("أعلنت جبهة البوليساريو وقف الهدنة.", "ORG", "جبهة البوليساريو"),
    ],
)
def test_wider_gazetteers(pl, text, label, name):
    assert (label, name) in spans(pl, text)


# --- metaphors, dates, newspapers ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "يهدف القرار إلى تصفية القضية الفلسطينية.",
        "يسعى الاحتلال لتصفية قضية اللاجئين.",
        "حذر الوزير من دفع الأوضاع إلى الانفجار.",
        "يهدد ذلك بانفجار الوضع في المنطقة.",
        "قد يؤدي الغلاء إلى انفجار شعبي.",
    ],
)
def test_metaphors_are_not_events(pl, text):
    assert not [s for s in pl.predict(text) if s.kind == "trigger"]


def test_literal_explosions_are_still_events(pl):
    text = "أسفر انفجار سيارة مفخخة عن مقتل خمسة أشخاص."
    assert ("Conflict.Attack", "انفجار") in spans(pl, text)


def test_two_month_names_are_one_date(pl):
    text = "قتل خمسة جنود في 15 تموز / يوليو الماضي."
    found = spans(pl, text)
    assert ("TIME", "15 تموز / يوليو") in found
    assert ("TIME", "يوليو") not in found


def test_a_newspaper_called_today_is_not_a_date(pl):
    found = spans(pl, "نشرت صحيفة اليوم تقريرا عن الهجوم.")
    assert ("ORG", "صحيفة اليوم") in found
    assert not any(label == "TIME" for label, _ in found)
    # but "today" after the definite word is still a date
    assert ("TIME", "اليوم") in spans(pl, "نشرت الصحيفة اليوم تقريرا عن الهجوم.")


# --- workspace gazetteers --------------------------------------------------------------------

TEXT = "قصفت الطائرات قرية زبدين وقتل قائد لواء الفاتحين."


def test_workspace_gazetteer_files_and_toml(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    base = get_prelabeler("lexicon", ws)
    assert ("GPE", "زبدين") not in spans(base, TEXT)

    (ws.root / "lexicon").mkdir()
    (ws.root / "lexicon" / "gpe.txt").write_text("# ours\nزبدين\n", encoding="utf-8")
    with_file = get_prelabeler("lexicon", ws)
    assert ("GPE", "زبدين") in spans(with_file, TEXT)
    assert with_file.version != base.version  # stale predictions are redone

    ws.config["prelabel"]["gazetteer"] = {"ORG": ["لواء الفاتحين"]}
    ws.save_config()
    ws = Workspace.load(ws.root)
    with_toml = get_prelabeler("lexicon", ws)
    assert ("ORG", "لواء الفاتحين") in spans(with_toml, TEXT)
    assert with_toml.version not in (base.version, with_file.version)
    # the package's own prelabeler is untouched
    assert ("GPE", "زبدين") not in spans(LexiconPrelabeler(), TEXT)


def test_bad_workspace_gazetteer_is_a_clear_error(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    ws.config["prelabel"]["gazetteer"] = {"CITY": ["زبدين"]}
    with pytest.raises(CorpusError, match="CITY"):
        get_prelabeler("lexicon", ws)
    ws.config["prelabel"]["gazetteer"] = {}
    (ws.root / "lexicon").mkdir()
    (ws.root / "lexicon" / "org.txt").write_text("لواء\tabc\n", encoding="utf-8")
    with pytest.raises(ResourceError, match=r"org.txt:1: score"):
        get_prelabeler("lexicon", ws).predict(TEXT)


def test_prelabel_command_redoes_predictions_when_the_gazetteer_changes(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    text = TEXT
    row = {
        "sentence_id": content_id("a", 0, len(text), prefix="s"),
        "article_id": "a",
        "index": 0,
        "start": 0,
        "end": len(text),
        "text": text,
    }
    write_table(ws.sentences_path, pa.Table.from_pylist([row], schema=SENTENCES), SENTENCES)
    runner = CliRunner()
    args = ["prelabel", "--workspace", str(ws.root)]
    assert runner.invoke(corpus.cli.app, args).exit_code == 0
    assert "up to date" in runner.invoke(corpus.cli.app, args).output
    (ws.root / "lexicon").mkdir()
    (ws.root / "lexicon" / "gpe.txt").write_text("زبدين\n", encoding="utf-8")
    result = runner.invoke(corpus.cli.app, args)
    assert result.exit_code == 0 and "up to date" not in result.output
    spans_out = pq.read_table(ws.predictions_path).column("spans").to_pylist()[0]
    assert any(text[s["start"] : s["end"]] == "زبدين" for s in spans_out)
