"""The `events` config (TextEE / OneIE shape) and the sentence text in `tokens`: loaded with the
real `datasets.load_dataset`, compared with the annotations the workspace holds."""

from __future__ import annotations

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from test_publish import SPECIAL, build_workspace, by_id, load  # noqa: E402  (tests/ on sys.path)

from corpus.publish.build import publish
from corpus.publish.events import to_textee
from corpus.publish.splits import SPLITS


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("events")
    built = build_workspace(root / "ws")
    return built, publish(built.ws, "1.0.0")


def _winning_annotations(ws) -> dict[str, dict]:
    """The annotation each sentence keeps under the default policy ("latest"), by sentence."""
    t = pq.read_table(ws.annotations_path)
    t = t.filter(pc.invert(t["cancelled"]))
    out: dict[str, dict] = {}
    for r in sorted(t.to_pylist(), key=lambda r: r["updated_at"]):
        if r["choice"] != "noise":
            out[r["sentence_id"]] = r
    return out


def test_events_config_round_trips_every_annotation(published, tmp_path):
    built, report = published
    events = load(report.path, "events", tmp_path)
    assert set(events) == set(SPLITS)
    tokens = by_id(load(report.path, "tokens", tmp_path))
    rows = by_id(events)
    truth = _winning_annotations(built.ws)
    assert set(rows) == set(truth)
    for sid, row in rows.items():
        ann = truth[sid]
        text, toks = row["text"], row["tokens"]
        assert text == ann["sentence_text"] == tokens[sid]["text"]
        assert toks == tokens[sid]["tokens"]  # the tokens config's tokens, exactly
        starts, ends = tokens[sid]["token_starts"], tokens[sid]["token_ends"]

        def token_range(a: int, b: int, starts=starts, ends=ends) -> tuple[int, int]:
            inside = [
                i for i, (s, e) in enumerate(zip(starts, ends, strict=True)) if s < b and e > a
            ]
            return inside[0], inside[-1] + 1

        assert [
            (m["id"], m["entity_type"], m["text"], m["char_start"], m["char_end"])
            for m in row["entity_mentions"]
        ] == [(e["id"], e["label"], e["text"], e["start"], e["end"]) for e in ann["entities"]]
        for m in row["entity_mentions"]:
            assert text[m["char_start"] : m["char_end"]] == m["text"]
            assert (m["start"], m["end"]) == token_range(m["char_start"], m["char_end"])
        by_trigger = {t["id"]: t for t in ann["triggers"]}
        assert [m["id"] for m in row["event_mentions"]] == list(by_trigger)
        entity_text = {e["id"]: e["text"] for e in ann["entities"]}
        for m in row["event_mentions"]:
            t = by_trigger[m["id"]]
            trig = m["trigger"]
            assert m["event_type"] == t["event_type"]
            assert (trig["text"], trig["char_start"], trig["char_end"]) == (
                t["text"],
                t["start"],
                t["end"],
            )
            assert (trig["start"], trig["end"]) == token_range(t["start"], t["end"])
            want = [
                {
                    "entity_id": a["entity_id"],
                    "role": a["role"],
                    "text": entity_text[a["entity_id"]],
                }
                for a in ann["arguments"]
                if a["trigger_id"] == m["id"]
            ]
            assert m["arguments"] == want
    # Every role, type and mention survived (nothing dropped, unlike BIO tags).
    assert sum(len(r["entity_mentions"]) for r in rows.values()) == sum(
        len(a["entities"]) for a in truth.values()
    )
    assert sum(len(e["arguments"]) for r in rows.values() for e in r["event_mentions"]) == sum(
        len(a["arguments"]) for a in truth.values()
    )


def test_a_clitic_and_a_nested_mention_keep_their_token_ranges(published, tmp_path):
    built, report = published
    row = by_id(load(report.path, "events", tmp_path))[built.sentences[SPECIAL[1][0]]]
    toks = row["tokens"]
    spans = {m["text"]: toks[m["start"] : m["end"]] for m in row["entity_mentions"]}
    assert spans["الجيش"] == ["والجيش"]  # edge inside the token: the whole word
    assert spans["مطار بغداد"] == ["مطار", "بغداد"]
    assert spans["بغداد"] == ["بغداد"]  # nested inside مطار بغداد: kept (BIO tags drop it)
    assert spans["طائرة مسيرة"] == ["بطائرة", "مسيرة"]


def test_a_row_converts_to_the_textee_shape(published, tmp_path):
    built, report = published
    sid = built.sentences[SPECIAL[0][0]]
    row = by_id(load(report.path, "events", tmp_path))[sid]
    ids = {m["text"]: m["id"] for m in row["entity_mentions"]}
    ev = {m["event_type"]: m["id"] for m in row["event_mentions"]}
    assert to_textee(row) == {
        "doc_id": "art-special",
        "wnd_id": sid,
        "lang": "ar",
        "text": "قُـــتل ٣ مدنيين في قصف على #دير_الزور 😢 أمس.",
        "tokens": ["قُـــتل", "٣", "مدنيين", "في", "قصف", "على", "#دير_الزور", "😢", "أمس", "."],
        "entity_mentions": [
            {
                "id": ids["٣"],
                "entity_type": "NUM",
                "text": "٣",
                "start": 1,
                "end": 2,
                "char_start": 8,
                "char_end": 9,
            },
            {
                "id": ids["#دير_الزور"],
                "entity_type": "GPE",
                "text": "#دير_الزور",
                "start": 6,
                "end": 7,
                "char_start": 28,
                "char_end": 38,
            },
        ],
        "event_mentions": [
            {
                "id": ev["Life.Die"],
                "event_type": "Life.Die",
                "trigger": {"text": "قُـــتل", "start": 0, "end": 1, "char_start": 0, "char_end": 7},
                "arguments": [{"entity_id": ids["٣"], "role": "Victim", "text": "٣"}],
            },
            {
                "id": ev["Conflict.Attack"],
                "event_type": "Conflict.Attack",
                "trigger": {"text": "قصف", "start": 4, "end": 5, "char_start": 20, "char_end": 23},
                "arguments": [
                    {"entity_id": ids["#دير_الزور"], "role": "Place", "text": "#دير_الزور"}
                ],
            },
        ],
    }


def test_the_card_documents_the_events_config_and_its_offsets(published):
    _, report = published
    card = (report.path / "README.md").read_text(encoding="utf-8")
    assert "## The `events` config (TextEE / OneIE shape)" in card
    assert "end-exclusive" in card and "code points" in card
    assert "exactly the `tokens` config's tokens" in card
    assert 'load_dataset("path/to/releases/1.0.0", "events")' in card


# --- baseline scores -----------------------------------------------------------------------------


def test_publish_trains_a_baseline_and_reports_f1_in_card_and_manifest(tmp_path):
    built = build_workspace(tmp_path / "ws", baseline=True)
    report = publish(built.ws, "1.0.0")
    b = report.manifest["baseline"]
    assert b["status"] == "computed" and b["train_sentences"] == report.rows["sentences"]["train"]
    assert b["arguments_model"] in ("learned", "rules")
    for split in ("validation", "test"):
        sc = b["scores"][split]
        assert sc["sentences"] == report.rows["sentences"][split]
        for kind in ("entity", "trigger", "argument"):
            assert 0.0 <= sc[kind]["f1"] <= 1.0
            gold = sc[kind]["tp"] + sc[kind]["fn"]
            assert gold > 0  # every split has gold spans and arguments to score against
    card = (report.path / "README.md").read_text(encoding="utf-8")
    assert "## Baseline scores" in card
    test = b["scores"]["test"]
    assert (
        f"| test | {test['sentences']:,} | {test['entity']['f1']:.3f} | "
        f"{test['trigger']['f1']:.3f} | {test['argument']['f1']:.3f} |"
    ) in card


def test_a_baseline_turned_off_says_not_computed(published):
    _, report = published  # build_workspace turns the baseline off
    assert report.manifest["baseline"]["status"] == "not computed"
    assert "turned off" in report.manifest["baseline"]["reason"]
    card = (report.path / "README.md").read_text(encoding="utf-8")
    assert "## Baseline scores\n\nNot computed: turned off" in card


def test_a_large_train_split_is_sampled_and_the_card_says_so(tmp_path):
    from corpus.ontology import load_ontology
    from corpus.publish.baselines import baseline_scores

    built = build_workspace(tmp_path / "ws")
    report = publish(built.ws, "1.0.0")  # baseline off: computed below on a small sample
    onto = load_ontology(built.ws.ontology_path)
    b = baseline_scores(report.path, onto, max_train=12, max_eval=2)
    assert b["status"] == "computed"
    assert (b["train_sentences"], b["train_sentences_in_split"]) == (12, 40)
    assert {sc["sentences"] for sc in b["scores"].values()} == {2}
    again = baseline_scores(report.path, onto, max_train=12, max_eval=2)
    assert again["scores"] == b["scores"]  # a fixed sample: the same figures every time
