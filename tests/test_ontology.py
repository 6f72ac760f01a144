"""The ontology file: loading, validation errors, the generated Label Studio config, span checks."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from corpus.errors import OntologyError
from corpus.ontology import (
    RTL_STYLE,
    default_ontology_path,
    label_config_xml,
    load_ontology,
    ontology_from_dict,
    validate_spans,
)
from corpus.types import Span
from corpus.workspace import REPO_ROOT

TOP_LEVEL = REPO_ROOT / "annotation_configs"  # the editable source of truth

ISSUE_ENTITIES = ["PER", "ORG", "GPE", "LOC", "FAC", "WEA", "VEH", "TIME", "NUM"]
ISSUE_EVENTS = [
    "Conflict.Attack",
    "Conflict.Demonstrate",
    "Life.Die",
    "Life.Injure",
    "Movement.Transport",
    "Justice.Arrest-Jail",
    "Justice.Release-Parole",
    "Contact.Meet",
]
ISSUE_ROLES = {
    "Attacker", "Target", "Instrument", "Place", "Time", "Victim", "Agent", "Person", "Entity",
    "Origin", "Destination", "Artifact",
}  # fmt: skip

MINIMAL = """\
name: tiny
entity_types:
  PER: {}
  GPE:
event_types:
  Conflict.Attack:
    roles: [Attacker]
roles:
  Attacker:
    entity_types: [PER]
"""


@pytest.fixture(scope="module")
def onto():
    return load_ontology(default_ontology_path())


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "onto.yaml"
    p.write_text(text, encoding="utf-8")
    return p


# --- the bundled ontology ---------------------------------------------------------------------


def test_bundled_ontology_has_the_issue_types_and_ace_roles(onto):
    assert onto.name == "conflict_events"
    assert onto.entity_types == ISSUE_ENTITIES
    assert list(onto.event_types) == ISSUE_EVENTS
    assert ISSUE_ROLES <= set(onto.roles)
    assert onto.event_types["Conflict.Attack"] == [
        "Attacker",
        "Target",
        "Instrument",
        "Place",
        "Time",
    ]
    assert onto.event_types["Justice.Release-Parole"] == ["Entity", "Person", "Place", "Time"]
    assert onto.role_fillers["Time"] == ["TIME"]
    assert onto.choices == ["has-event", "no-event", "noise"]
    assert re.fullmatch(r"[0-9a-f]{64}", onto.hash)
    assert default_ontology_path().read_bytes() == (TOP_LEVEL / "conflict_events.yaml").read_bytes()


def test_every_label_has_english_and_arabic_guidance(onto):
    assert "whole words" in onto.guidance and "كلمات كاملة" in onto.guidance
    for kind, names in (
        ("entity", onto.entity_types),
        ("trigger", onto.event_types),
        ("role", onto.roles),
        ("choice", onto.choices),
    ):
        for name in names:
            info = onto.describe(kind, name)
            assert info.en and re.search(r"[\u0600-\u06ff]", info.ar), (kind, name)


def test_kind_of(onto):
    assert onto.kind_of("GPE") == "entity"
    assert onto.kind_of("Life.Die") == "trigger"
    assert onto.kind_of("Attacker") is None
    assert onto.kind_of("gpe") is None


def test_hash_ignores_formatting_but_not_content(tmp_path, onto):
    data = yaml.safe_load(default_ontology_path().read_text(encoding="utf-8"))
    dumped = yaml.safe_dump(data, allow_unicode=True, width=60, sort_keys=False)
    reformatted = write(tmp_path, "# a comment\n" + dumped)
    assert load_ontology(reformatted).hash == onto.hash
    data["entity_types"]["PER"]["en"] = "Someone."
    changed = write(tmp_path, yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    assert load_ontology(changed).hash != onto.hash


# --- the Label Studio config ------------------------------------------------------------------


def test_checked_in_xml_is_up_to_date_with_the_yaml(onto):
    checked_in = (TOP_LEVEL / "conflict_events.xml").read_text(encoding="utf-8")
    assert checked_in == label_config_xml(onto), (
        "annotation_configs/conflict_events.xml is stale: run "
        "`corpus ontology render annotation_configs/conflict_events.yaml`"
    )


def test_label_config_follows_the_contract(onto):
    root = ET.fromstring(label_config_xml(onto))
    assert root.tag == "View"
    # The sentence: right-to-left wrapper, word granularity.
    (wrapper,) = [v for v in root.iter("View") if v.find("Text[@name='text']") is not None]
    assert wrapper.get("style") == RTL_STYLE
    text = wrapper.find("Text[@name='text']")
    assert text.get("value") == "$text" and text.get("granularity") == "word"
    # Span labels, relation labels and the sentence choice.
    ents = root.find(".//Labels[@name='entities']")
    trig = root.find(".//Labels[@name='triggers']")
    assert ents.get("toName") == "text" and trig.get("toName") == "text"
    assert [lb.get("value") for lb in ents.findall("Label")] == ISSUE_ENTITIES
    assert [lb.get("value") for lb in trig.findall("Label")] == ISSUE_EVENTS
    assert [r.get("value") for r in root.find(".//Relations").findall("Relation")] == onto.roles
    choices = root.find(".//Choices[@name='sentence']")
    assert choices.get("toName") == "text" and choices.get("choice") == "single"
    assert [c.get("value") for c in choices.findall("Choice")] == ["has-event", "no-event", "noise"]
    # Hotkeys are unique; guidance is shown as hints.
    keys = [e.get("hotkey") for e in root.iter() if e.get("hotkey")]
    assert len(keys) == len(set(keys)) == len(ISSUE_ENTITIES) + len(ISSUE_EVENTS) + 3
    assert "Person" in ents.find("Label[@value='PER']").get("hint")
    # Title and context are shown read-only: no control points at them.
    assert root.find(".//Header[@value='$title']") is not None
    for name in ("context_before", "context_after"):
        ctx = root.find(f".//Text[@name='{name}']")
        assert ctx.get("value") == f"${name}" and ctx.get("selectionEnabled") == "false"
    assert {e.get("toName") for e in root.iter() if e.get("toName")} == {"text"}
    # Names are unique (Label Studio rejects duplicates).
    names = [e.get("name") for e in root.iter() if e.get("name")]
    assert len(names) == len(set(names))


def test_label_config_is_deterministic_and_escapes_text(tmp_path):
    p = write(
        tmp_path,
        MINIMAL.replace("  PER: {}", '  PER: {en: \'Names "quoted" & <tags>\', ar: "اسم"}'),
    )
    a = label_config_xml(load_ontology(p))
    assert a == label_config_xml(load_ontology(p))
    root = ET.fromstring(a)  # well-formed despite quotes, & and <
    hint = root.find(".//Label[@value='PER']").get("hint")
    assert hint == '\u2066Names "quoted" & <tags>\u2069 · \u2067اسم\u2069'


def test_a_users_own_minimal_ontology(tmp_path):
    o = load_ontology(write(tmp_path, MINIMAL))
    assert o.entity_types == ["PER", "GPE"] and o.roles == ["Attacker"]
    assert o.choices == ["has-event", "no-event", "noise"]  # the default choices
    root = ET.fromstring(label_config_xml(o))
    assert [lb.get("value") for lb in root.find(".//Labels[@name='triggers']")] == [
        "Conflict.Attack"
    ]
    assert all(lb.get("hotkey") is None for lb in root.iter("Label"))


# --- clear errors for broken ontologies ---------------------------------------------------------


BROKEN = [
    ("name: x\nentity_types: [PER\n", r"line \d+, column \d+: not valid YAML"),
    (MINIMAL + "roles:\n  Target: {}\n", r"line 11.*duplicate key 'roles' \(first on line 8\)"),
    (MINIMAL + "colour: red\n", r"line \d+: top level: unknown key 'colour'"),
    (MINIMAL.replace("name: tiny\n", ""), r"missing required key 'name'"),
    (
        MINIMAL.replace("[Attacker]", "[Attacker, Victm]"),
        r"line 7: event type 'Conflict.Attack': role 'Victm' is not defined in roles",
    ),
    (
        MINIMAL.replace("entity_types: [PER]", "entity_types: [PER, WEA]"),
        r"role 'Attacker': entity type 'WEA' is not defined",
    ),
    (
        MINIMAL.replace("  GPE:", "  GPE: {hotkey: '1'}").replace("PER: {}", "PER: {hotkey: '1'}"),
        r"hotkey '1' is already used by entity 'PER'",
    ),
    (MINIMAL.replace("PER: {}", "PER: {hotkey: u}"), r"hotkey 'u' is used by Label Studio itself"),
    (MINIMAL.replace("PER: {}", "PER: {color: blue}"), r"color 'blue' is not a hex colour"),
    (MINIMAL.replace("  Conflict.Attack:", "  GPE:"), r"'GPE' is also an entity type"),
    (
        MINIMAL.replace("  Conflict.Attack:", "  Conflict Attack:"),
        r"'Conflict Attack' is not a valid name",
    ),
    (
        MINIMAL.replace("PER: {}", "PER: {en: [a, b]}"),
        r"entity 'PER'.en: expected a non-empty string",
    ),
    (
        MINIMAL.replace("entity_types:\n  PER: {}\n  GPE:\n", "entity_types: {}\n"),
        r"at least one entity type is needed",
    ),
    ("", r"the file is empty"),
    ("- just\n- a list\n", r"top level: expected a mapping, got list"),
]


@pytest.mark.parametrize(("text", "problem"), BROKEN)
def test_broken_ontology_gives_a_clear_error(tmp_path, text, problem):
    path = write(tmp_path, text)
    with pytest.raises(OntologyError) as err:
        load_ontology(path)
    assert str(path) in err.value.message
    assert re.search(problem, err.value.message), err.value.message
    assert err.value.hint


def test_missing_ontology_file(tmp_path):
    with pytest.raises(OntologyError, match="file not found") as err:
        load_ontology(tmp_path / "nope.yaml")
    assert str(tmp_path / "nope.yaml") in err.value.message


def test_ontology_from_dict_without_a_file():
    o = ontology_from_dict(yaml.safe_load(MINIMAL))
    assert o.name == "tiny" and o.path == "<ontology>"


# --- span validation --------------------------------------------------------------------------

TEXT = "قُتل خمسة مدنيين في إدلب"


def test_valid_spans_pass(onto):
    spans = [Span(0, 4, "Life.Die", "trigger", 0.9, "t"), Span(20, 24, "GPE", "entity", 1.0, "t")]
    good, bad = validate_spans(spans, TEXT, onto)
    assert good == spans and bad == []


@pytest.mark.parametrize(
    ("span", "reason"),
    [
        (Span(-1, 3, "GPE", "entity"), "outside the sentence"),
        (Span(3, 3, "GPE", "entity"), "outside the sentence"),
        (Span(20, 99, "GPE", "entity"), "outside the sentence"),
        (Span(4, 9, "GPE", "entity"), "begins or ends with whitespace"),
        (Span(5, 10, "GPE", "entity"), "begins or ends with whitespace"),
        (Span(20, 24, "CITY", "entity"), "label 'CITY' is not in ontology 'conflict_events'"),
        (Span(20, 24, "GPE", "trigger"), "is an entity type, not a trigger"),
        (Span(0, 4, "Life.Die", "entity"), "is an event type, not a entity"),
        (Span(0, 4, "Life.Die", "argument"), "kind 'argument' is not one of entity, trigger"),
        (Span(0, 4, "Life.Die", "trigger", math.nan), "outside [0, 1]"),
        (Span(0, 4, "Life.Die", "trigger", 1.5), "outside [0, 1]"),
        (Span(0.0, 4, "Life.Die", "trigger"), "offsets must be integers"),
    ],
)
def test_invalid_spans_are_returned_with_their_reason(onto, span, reason):
    good, bad = validate_spans([span], TEXT, onto)
    assert good == []
    assert len(bad) == 1 and reason in bad[0][1], bad


def test_duplicate_span_is_invalid(onto):
    s = Span(20, 24, "GPE", "entity")
    good, bad = validate_spans([s, s], TEXT, onto)
    assert good == [s] and bad == [(s, "duplicate span")]
