"""Canonical text and matching normalisation."""

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from corpus.text import arabic_ratio, canonicalize, match_words, normalize_for_matching


def test_canonicalize_fixes_scraped_artefacts():
    raw = "\ufeffالتحالف&nbsp;يقصف &amp;quot;داعش&amp;quot;\r\nسطر\u200b ثان\u202b!\u202c  \r\n"
    assert canonicalize(raw) == 'التحالف\xa0يقصف "داعش"\nسطر ثان!'


def test_canonicalize_keeps_what_annotators_see():
    # Diacritics, tatweel, RTL marks, emoji with ZWJ, Arabic-Indic digits, hashtags stay as they are.
    text = "قُتِلَ ٣٥ شخصاً في #دير_الزور ــ الخميس\u200f 👨\u200d👩\u200d👧"
    assert canonicalize(text) == text


def test_canonicalize_composes_to_nfc():
    decomposed = "\u0627\u0653"  # alef + madda above -> آ
    assert canonicalize(decomposed) == "\u0622"


def test_canonicalize_maps_every_line_break_to_newline():
    assert canonicalize("أ\rب\r\nج\u2028د\u2029هـ\x85و") == "أ\nب\nج\nد\nهـ\nو"


@given(st.text())
def test_canonicalize_is_idempotent_and_clean(text):
    once = canonicalize(text)
    assert canonicalize(once) == once
    assert unicodedata.is_normalized("NFC", once)
    assert "\r" not in once and "\ufeff" not in once and "\u200b" not in once
    assert once == once.strip()


def test_arabic_ratio():
    assert arabic_ratio("مرحبا hello") == 0.5
    assert arabic_ratio("123 😀 ...") == 0.0
    assert arabic_ratio("قُتِلَ") == 1.0  # diacritics are not letters
    assert 0.0 < arabic_ratio("Reuters: قال مسؤول") < 1.0


def test_matching_normalisation_folds_arabic_variants():
    assert normalize_for_matching("أَحْمَد إلى مدرسة آمنة ٣٥ ــ") == "احمد الي مدرسه امنه 35 "
    assert match_words("«قال» المسؤول، (الخميس).") == ["قال", "المسؤول", "الخميس"]
