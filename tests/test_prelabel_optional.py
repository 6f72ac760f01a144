"""Optional sources: camel-tools morphology and NER, a Hugging Face model folder, and fallback.

The tests build tiny real resources (a morphology database in camel-tools' text format, a
randomly initialised BERT token classifier with its tokenizer) and load them through the same
code a user's installed data goes through.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import pytest

from corpus.ontology import default_ontology_path, load_ontology, validate_spans
from corpus.prelabel import PrelabelerUnavailable, default_prelabeler, get_prelabeler
from corpus.prelabel.lexicon import word_spans

ONTOLOGY = load_ontology(default_ontology_path())

# A camel-tools morphology database (the text format MorphologyDB parses) that knows one verb,
# قتل, with the 1st-person prefix أ and the object suffix هم. أقتلهم is a form the lexicon does
# not generate (no 1st person singular), so only lemma matching finds it.
TINY_DB = """\
###DEFINES###
DEFINE pos pos:noun pos:verb pos:digit pos:punc pos:foreign
DEFINE lex lex:*open*
DEFINE diac diac:*open*
DEFINE bw bw:*open*
DEFINE gloss gloss:*open*
###DEFAULTS###
DEFAULT pos:noun lex: diac: bw: gloss:
DEFAULT pos:verb lex: diac: bw: gloss:
DEFAULT pos:digit lex: diac: bw: gloss:
DEFAULT pos:punc lex: diac: bw: gloss:
DEFAULT pos:foreign lex: diac: bw: gloss:
###ORDER###
ORDER pos diac lex bw gloss
###TOKENIZATIONS###
TOKENIZATION diac
###STEMBACKOFF###
STEMBACKOFF NOUN_PROP NP
###PREFIXES###
\tPref-0\tdiac: bw: gloss:
ا\tIV1S\tdiac:أَ bw:أ/IV1S gloss:I
###SUFFIXES###
\tSuff-0\tdiac: bw: gloss:
هم\tSUFF_DO:3MP\tdiac:هُم bw:+هم/PVSUFF_DO:3MP gloss:them
###STEMS###
قتل\tIV\tpos:verb diac:قْتُل lex:قَتَل_1 bw:قْتُل/IV gloss:kill
###TABLE AB###
Pref-0\tIV
IV1S\tIV
###TABLE BC###
IV\tSuff-0
IV\tSUFF_DO:3MP
###TABLE AC###
Pref-0\tSuff-0
Pref-0\tSUFF_DO:3MP
IV1S\tSuff-0
IV1S\tSUFF_DO:3MP
"""

CAMEL_LABELS = ["B-LOC", "B-ORG", "B-PERS", "B-MISC", "I-LOC", "I-ORG", "I-PERS", "I-MISC", "O"]
HF_LABELS = ["O", "B-GPE", "I-GPE", "B-Conflict.Attack", "I-Conflict.Attack", "B-MISC"]


def make_bert(folder: Path, labels: list[str], favour: str) -> Path:
    """A randomly initialised tiny BERT token classifier whose classifier always picks `favour`."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    folder.mkdir(parents=True, exist_ok=True)
    letters = [chr(c) for c in range(0x0621, 0x064B)]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *letters, *("##" + c for c in letters)]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = transformers.BertTokenizer(
        str(folder / "vocab.txt"), do_lower_case=False, tokenize_chinese_chars=False
    )
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=512,
        id2label=dict(enumerate(labels)),
        label2id={lb: i for i, lb in enumerate(labels)},
    )
    torch.manual_seed(0)
    model = transformers.BertForTokenClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.fill_(-5.0)
        model.classifier.bias[labels.index(favour)] = 5.0
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def camel_data(tmp_path, monkeypatch):
    """An empty camel-tools data folder as CAMELTOOLS_DATA, with camel-tools modules that read
    it at import time re-imported for the test (and dropped again afterwards)."""
    data = tmp_path / "camel_data"
    data.mkdir()
    monkeypatch.setenv("CAMELTOOLS_DATA", str(data))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    def is_data_module(name: str) -> bool:
        return name.startswith(("camel_tools.data", "camel_tools.morphology", "camel_tools.ner"))

    before = {n for n in sys.modules if is_data_module(n)}
    for name in before:
        monkeypatch.delitem(sys.modules, name)
    yield data
    for name in [n for n in sys.modules if is_data_module(n) and n not in before]:
        del sys.modules[name]


def install(data: Path, morphology: bool = True, ner_favour: str | None = None) -> None:
    """Write a catalogue naming the datasets, and the datasets themselves."""
    catalogue = {
        "version": "1.6",
        "packages": {},
        "components": {
            "MorphologyDB": {
                "default": "calima-msa-r13",
                "datasets": {"calima-msa-r13": {"path": "morphology_db/calima-msa-r13"}},
            },
            "NamedEntityRecognition": {
                "default": "arabert",
                "datasets": {"arabert": {"path": "ner/arabert"}},
            },
        },
    }
    (data / "catalogue.json").write_text(json.dumps(catalogue), encoding="utf-8")
    if morphology:
        db = data / "data" / "morphology_db" / "calima-msa-r13"
        db.mkdir(parents=True)
        (db / "morphology.db").write_text(TINY_DB, encoding="utf-8")
    if ner_favour:
        make_bert(data / "data" / "ner" / "arabert", CAMEL_LABELS, ner_favour)


def spans_of(prelabeler, text):
    return [(s.label, text[s.start : s.end], s.source) for s in prelabeler.predict(text)]


# --- camel-tools ---------------------------------------------------------------------------------


def test_camel_morphology_finds_triggers_by_lemma(camel_data):
    install(camel_data, morphology=True)
    p = get_prelabeler("camel", fallback=False)
    assert p.name == "camel" and "morph=calima-msa-r13" in p.version
    text = "«أقتلهم جميعاً» صرخ المسلح في حلب"
    got = spans_of(p, text)
    assert ("Life.Die", "أقتلهم", "camel-morph") in got
    assert ("GPE", "حلب", "lexicon") in got
    # The lexicon alone does not know this form: the morphology added it.
    assert all(lb != "Life.Die" for lb, _, _ in spans_of(default_prelabeler(), text))
    good, bad = validate_spans(p.predict(text), text, ONTOLOGY)
    assert bad == []


def test_camel_ner_adds_entities_where_the_lexicon_found_none(camel_data):
    install(camel_data, morphology=False, ner_favour="B-PERS")
    p = get_prelabeler("camel", fallback=False)
    assert "ner=arabert" in p.version and "morph" not in p.version
    text = "قتل خمسة في حلب أمس"
    got = spans_of(p, text)
    # Lexicon spans stay; every other word is a (one-word) PER from the always-PERS model.
    assert ("Life.Die", "قتل", "lexicon") in got and ("GPE", "حلب", "lexicon") in got
    assert ("PER", "في", "camel-ner") in got
    words = [text[s:e] for s, e in word_spans(text)]
    assert sorted(piece for _, piece, _ in got) == sorted(words)


def test_camel_ner_tags_become_ontology_labels():
    from corpus.prelabel.camel import CamelPrelabeler

    starts, ends = [0, 5, 10, 15, 20], [4, 9, 14, 19, 24]
    found = [[0, 1, "LOC", "entity", 0.9]]  # the lexicon says word 0 is a LOC
    tags = ["B-LOC", "I-LOC", "O", "B-PERS", "B-MISC"]
    spans = CamelPrelabeler._ner_spans(tags, starts, ends, found)
    assert [(s.start, s.end, s.label) for s in spans] == [(0, 9, "LOC"), (15, 19, "PER")]
    spans = CamelPrelabeler._ner_spans(["B-LOC", "B-ORG", "I-ORG"], starts, ends, [])
    assert [(s.start, s.end, s.label) for s in spans] == [(0, 4, "GPE"), (5, 14, "ORG")]


def test_camel_absent_falls_back_to_the_lexicon_without_downloading(camel_data):
    assert not any(n.startswith("camel_tools.data") for n in sys.modules)
    with pytest.warns(UserWarning, match="camel-tools data is not installed.*lexicon"):
        p = get_prelabeler("camel")
    assert p.name == "lexicon"
    with pytest.raises(PrelabelerUnavailable, match="camel_data -i light"):
        get_prelabeler("camel", fallback=False)
    # Importing camel_tools.data without a catalogue would try to download one.
    assert not any(n.startswith("camel_tools.data") for n in sys.modules)


def test_camel_catalogue_without_datasets_is_absent(camel_data):
    install(camel_data, morphology=False)
    with pytest.raises(PrelabelerUnavailable, match="no morphology database or NER model"):
        get_prelabeler("camel", fallback=False)


# --- Hugging Face model folder -------------------------------------------------------------------


@pytest.fixture(scope="module")
def bert_gpe(tmp_path_factory):
    return make_bert(tmp_path_factory.mktemp("hf") / "tiny-gpe", HF_LABELS, "B-GPE")


@pytest.fixture(scope="module")
def bert_o(tmp_path_factory):
    return make_bert(tmp_path_factory.mktemp("hf") / "tiny-o", HF_LABELS, "O")


def test_hf_model_labels_every_word_it_tags(bert_gpe):
    p = get_prelabeler(f"hf:{bert_gpe}", fallback=False)
    assert p.name == "hf:tiny-gpe" and p.version.startswith("hf:tiny-gpe@")
    text = "وصل الوفد إلى دمشق، أمس الثلاثاء."
    spans = p.predict(text)
    assert [(s.start, s.end) for s in spans] == word_spans(text)  # B- on every word
    assert {(s.label, s.kind, s.source) for s in spans} == {("GPE", "entity", "hf")}
    assert all(0 < s.score <= 1 for s in spans)
    assert validate_spans(spans, text, ONTOLOGY)[1] == []


def test_hf_model_splits_long_sentences_into_chunks(bert_gpe):
    from corpus.prelabel.hf import HFPrelabeler

    p = HFPrelabeler(bert_gpe, ONTOLOGY, max_length=8)
    text = " ".join(["مدينة"] * 40)
    assert len(p.predict(text)) == 40


def test_hf_labels_the_model_does_not_produce_come_from_the_lexicon(bert_o):
    p = get_prelabeler(f"hf:{bert_o}", fallback=False)
    text = "قتل خمسة في حلب أمس"
    got = [(s.label, text[s.start : s.end], s.source) for s in p.predict(text)]
    # The model claims GPE and Conflict.Attack (and predicts O everywhere): no GPE from the
    # lexicon, the other labels are the lexicon's.
    assert got == [
        ("Life.Die", "قتل", "lexicon"),
        ("NUM", "خمسة", "lexicon"),
        ("TIME", "أمس", "lexicon"),
    ]
    assert p.predict_batch([text, ""]) == [p.predict(text), []]


def test_hf_tag_parsing():
    from corpus.prelabel.hf import parse_tag

    assert parse_tag("B-GPE") == ("B", "GPE")
    assert parse_tag("I-Conflict.Attack") == ("I", "Conflict.Attack")
    assert parse_tag("S-PERS") == ("B", "PER")
    assert parse_tag("E-LOCATION") == ("I", "LOC")
    assert parse_tag("O") == ("O", None)
    assert parse_tag("DATE") == ("I", "TIME")


def test_hf_missing_folder_falls_back_with_a_warning(tmp_path):
    with pytest.warns(UserWarning, match="no model folder at .*nope.*lexicon"):
        p = get_prelabeler(f"hf:{tmp_path / 'nope'}")
    assert p.name == "lexicon"
    (tmp_path / "half").mkdir()
    with pytest.raises(PrelabelerUnavailable, match="has no config.json"):
        get_prelabeler(f"hf:{tmp_path / 'half'}", fallback=False)


def test_hf_path_is_relative_to_the_workspace(tmp_path, bert_o):
    import shutil

    from corpus.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws")
    shutil.copytree(bert_o, ws.root / "models" / "tiny")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = get_prelabeler("hf:models/tiny", ws)
    assert p.name == "hf:tiny"


def test_hf_lexicon_part_uses_the_workspace_gazetteer(tmp_path, bert_o):
    import shutil

    from corpus.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws")
    shutil.copytree(bert_o, ws.root / "models" / "tiny")
    text = "قتل قائد لواء الفاتحين أمس"
    before = get_prelabeler("hf:models/tiny", ws)
    assert "ORG" not in {s.label for s in before.predict(text)}
    (ws.root / "lexicon").mkdir()
    (ws.root / "lexicon" / "org.txt").write_text("لواء الفاتحين\n", encoding="utf-8")
    p = get_prelabeler("hf:models/tiny", ws)
    assert ("ORG", "لواء الفاتحين") in {(s.label, text[s.start : s.end]) for s in p.predict(text)}
    assert p.version != before.version  # the gazetteer is part of it: predictions are redone
