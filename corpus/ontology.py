"""The event ontology: a YAML file with entity types, event types, argument roles and sentence
choices, validated into an `Ontology`, rendered into the Label Studio labeling config, and used to
check pre-labels before they are written.

File format: README "Ontology file". The bundled default is `annotation_configs/conflict_events.yaml`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from corpus.errors import OntologyError
from corpus.types import Span
from corpus.workspace import BUNDLED_CONFIGS

SPAN_KINDS = ("entity", "trigger")
DEFAULT_CHOICES = {
    "has-event": {"en": "The sentence reports at least one event.", "ar": "الجملة تذكر حدثاً."},
    "no-event": {"en": "No event of these types.", "ar": "لا حدث من هذه الأنواع."},
    "noise": {"en": "Not Arabic, or noise.", "ar": "ليس عربياً أو ضجيج."},
}
# Label Studio's own single-key shortcut while labeling ("u" unselects the region).
RESERVED_HOTKEYS = frozenset({"u"})
# The right-to-left wrapper from design.md; the contract names this exact style.
RTL_STYLE = "direction: rtl; text-align: right; unicode-bidi: plaintext"

# Matched whole (fullmatch): with `$`, "NEWT\n" would pass.
_ENTITY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z][A-Za-z0-9_-]*)*")
_CHOICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_HOTKEY = re.compile(r"(?:(?:ctrl|shift|alt|meta)\+)*[a-z0-9]")

_TOP_KEYS = (
    "name",
    "version",
    "description",
    "guidance",
    "entity_types",
    "event_types",
    "roles",
    "choices",
)
_LABEL_KEYS = ("hotkey", "color", "en", "ar")


def default_ontology_path() -> Path:
    """The ontology bundled with the package (copied into each new workspace)."""
    return BUNDLED_CONFIGS / "conflict_events.yaml"


@dataclass(frozen=True)
class LabelInfo:
    """One entity type, event type, role or choice with its annotator-facing description."""

    name: str
    en: str = ""
    ar: str = ""
    hotkey: str | None = None
    color: str | None = None


@dataclass(frozen=True, eq=False)
class Ontology:
    """A validated ontology. `hash` is the sha256 of its canonical content (formatting and
    comments in the YAML do not change it)."""

    name: str
    version: str
    description: str
    entity_types: list[str]
    event_types: dict[str, list[str]]  # event type -> its roles
    roles: list[str]
    role_fillers: dict[str, list[str]]  # role -> entity types allowed to fill it
    choices: list[str]
    guidance: str  # English then Arabic guidance text
    guidance_en: str
    guidance_ar: str
    hash: str
    info: dict[tuple[str, str], LabelInfo] = field(repr=False)  # (kind, name) -> description
    path: str = ""

    def __post_init__(self) -> None:
        # kind_of runs once per predicted span: keep a label -> kind table.
        kinds = {e: "entity" for e in self.entity_types}
        kinds.update({e: "trigger" for e in self.event_types})
        object.__setattr__(self, "_kinds", kinds)

    def kind_of(self, label: str) -> str | None:
        """'entity' or 'trigger' for a span label of this ontology, else None."""
        return self._kinds.get(label)  # type: ignore[attr-defined]

    def describe(self, kind: str, name: str) -> LabelInfo:
        """The description of an entity type ("entity"), event type ("trigger"), role or choice."""
        return self.info[(kind, name)]


# --- loading and validation -------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and remembers the line of every mapping and key, so
    validation errors can point at the line to fix."""

    def __init__(self, stream):
        super().__init__(stream)
        self.lines: dict = {}  # id(mapping) -> line, (id(mapping), key) -> line

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first on line {seen[key]})",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_map(self, node):
        # The mapping object handed out is created here (PyYAML fills it after yielding it).
        data: dict = {}
        yield data
        data.update(self.construct_mapping(node))
        self.lines[id(data)] = node.start_mark.line + 1
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            self.lines[(id(data), key)] = key_node.start_mark.line + 1


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_yaml_map)


class _Checker:
    """Collects the context (path in the document, line) for one error message."""

    def __init__(self, path: str, lines: dict):
        self.path = path
        self.lines = lines

    def fail(self, where: str, problem: str, obj: Any = None, key: Any = None) -> OntologyError:
        line = None
        if obj is not None:
            line = self.lines.get((id(obj), key)) if key is not None else None
            line = line or self.lines.get(id(obj))
        loc = f"line {line}: " if line else ""
        return OntologyError(self.path, f"{loc}{where}: {problem}")

    def mapping(self, obj: Any, where: str, parent: Any = None, key: Any = None) -> dict:
        if not isinstance(obj, dict):
            raise self.fail(where, f"expected a mapping, got {type(obj).__name__}", parent, key)
        return obj

    def text(self, value: Any, where: str, parent: Any, key: Any, required: bool = False) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(where, "expected a non-empty string", parent, key)
        return value.strip()

    def keys(self, obj: dict, allowed: Iterable[str], where: str) -> None:
        for k in obj:
            if k not in allowed:
                raise self.fail(where, f"unknown key {k!r} (allowed: {', '.join(allowed)})", obj, k)


def load_ontology(path: str | Path) -> Ontology:
    """Read and validate an ontology YAML file; any problem raises OntologyError naming the file,
    the line when known, and what is wrong."""
    path = Path(path)
    try:
        raw_text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OntologyError(str(path), "file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise OntologyError(str(path), f"cannot read the file ({e})") from None
    loader = _Loader(raw_text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise OntologyError(str(path), f"{where}not valid YAML ({problem})") from None
    finally:
        loader.dispose()
    return ontology_from_dict(data, str(path), loader.lines)


def ontology_from_dict(data: Any, path: str = "<ontology>", lines: dict | None = None) -> Ontology:
    """Validate an already parsed ontology document (see `load_ontology`)."""
    c = _Checker(path, lines or {})
    if data is None:
        raise OntologyError(path, "the file is empty")
    doc = c.mapping(data, "top level")
    c.keys(doc, _TOP_KEYS, "top level")
    for required in ("name", "entity_types", "event_types", "roles"):
        if required not in doc:
            raise c.fail("top level", f"missing required key {required!r}", doc)

    name = c.text(doc.get("name"), "name", doc, "name", required=True)
    version = doc.get("version", 1)
    if not isinstance(version, (int, str)) or isinstance(version, bool):
        raise c.fail("version", "expected a number or a string", doc, "version")
    description = c.text(doc.get("description"), "description", doc, "description")

    guidance_en = guidance_ar = ""
    g = doc.get("guidance")
    if isinstance(g, str):
        guidance_en = g.strip()
    elif g is not None:
        c.mapping(g, "guidance", doc, "guidance")
        c.keys(g, ("en", "ar"), "guidance")
        guidance_en = c.text(g.get("en"), "guidance.en", g, "en")
        guidance_ar = c.text(g.get("ar"), "guidance.ar", g, "ar")

    info: dict[tuple[str, str], LabelInfo] = {}
    hotkeys: dict[str, str] = {}

    def label_info(
        kind: str, lname: Any, body: Any, parent: dict, extra: tuple[str, ...] = ()
    ) -> dict:
        where = f"{kind} {lname!r}"
        body = {} if body is None else c.mapping(body, where, parent, lname)
        c.keys(body, _LABEL_KEYS + extra, where)
        hotkey = body.get("hotkey")
        if hotkey is not None:
            hotkey = str(hotkey).lower() if not isinstance(hotkey, bool) else None
            if hotkey is None or not _HOTKEY.fullmatch(hotkey):
                raise c.fail(
                    where,
                    f'hotkey {body.get("hotkey")!r} is not a key (e.g. "1", "q", "shift+a")',
                    body,
                    "hotkey",
                )
            if hotkey in RESERVED_HOTKEYS:
                raise c.fail(
                    where, f"hotkey {hotkey!r} is used by Label Studio itself", body, "hotkey"
                )
            if hotkey in hotkeys:
                raise c.fail(
                    where, f"hotkey {hotkey!r} is already used by {hotkeys[hotkey]}", body, "hotkey"
                )
            hotkeys[hotkey] = where
        color = body.get("color")
        if color is not None and not (isinstance(color, str) and _COLOR.fullmatch(color)):
            raise c.fail(
                where, f'color {color!r} is not a hex colour like "#1f77b4"', body, "color"
            )
        info[(kind, lname)] = LabelInfo(
            name=lname,
            en=c.text(body.get("en"), f"{where}.en", body, "en"),
            ar=c.text(body.get("ar"), f"{where}.ar", body, "ar"),
            hotkey=hotkey,
            color=color,
        )
        return body

    entities = c.mapping(doc["entity_types"], "entity_types", doc, "entity_types")
    if not entities:
        raise c.fail("entity_types", "at least one entity type is needed", doc, "entity_types")
    for ename, body in entities.items():
        if not isinstance(ename, str) or not _ENTITY_NAME.fullmatch(ename):
            raise c.fail(
                "entity_types",
                f"{ename!r} is not a valid name (letters, digits, _ and -)",
                entities,
                ename,
            )
        label_info("entity", ename, body, entities)

    roles_doc = c.mapping(doc["roles"], "roles", doc, "roles")
    role_fillers: dict[str, list[str]] = {}
    for rname, body in roles_doc.items():
        if not isinstance(rname, str) or not _ENTITY_NAME.fullmatch(rname):
            raise c.fail("roles", f"{rname!r} is not a valid role name", roles_doc, rname)
        body = label_info("role", rname, body, roles_doc, extra=("entity_types",))
        fillers = body.get("entity_types", list(entities))
        if not isinstance(fillers, list) or not fillers:
            raise c.fail(
                f"role {rname!r}", "entity_types must be a non-empty list", body, "entity_types"
            )
        for f in fillers:
            if f not in entities:
                raise c.fail(
                    f"role {rname!r}",
                    f"entity type {f!r} is not defined in entity_types",
                    body,
                    "entity_types",
                )
        role_fillers[rname] = list(fillers)

    events = c.mapping(doc["event_types"], "event_types", doc, "event_types")
    if not events:
        raise c.fail("event_types", "at least one event type is needed", doc, "event_types")
    event_types: dict[str, list[str]] = {}
    for evname, body in events.items():
        if not isinstance(evname, str) or not _EVENT_NAME.fullmatch(evname):
            raise c.fail(
                "event_types",
                f"{evname!r} is not a valid name (e.g. Conflict.Attack)",
                events,
                evname,
            )
        if evname in entities:
            raise c.fail(
                "event_types",
                f"{evname!r} is also an entity type; span labels must be unique",
                events,
                evname,
            )
        body = label_info("trigger", evname, body, events, extra=("roles",))
        ev_roles = body.get("roles", [])
        if not isinstance(ev_roles, list):
            raise c.fail(f"event type {evname!r}", "roles must be a list", body, "roles")
        for r in ev_roles:
            if r not in roles_doc:
                raise c.fail(
                    f"event type {evname!r}", f"role {r!r} is not defined in roles", body, "roles"
                )
        if len(set(ev_roles)) != len(ev_roles):
            raise c.fail(f"event type {evname!r}", "a role is listed twice", body, "roles")
        event_types[evname] = list(ev_roles)

    choices_doc = doc.get("choices", DEFAULT_CHOICES)
    if isinstance(choices_doc, list):
        choices_doc = {ch: None for ch in choices_doc}
    choices_doc = c.mapping(choices_doc, "choices", doc, "choices")
    if not choices_doc:
        raise c.fail("choices", "at least one choice is needed", doc, "choices")
    for chname, body in choices_doc.items():
        if not isinstance(chname, str) or not _CHOICE_NAME.fullmatch(chname):
            raise c.fail("choices", f"{chname!r} is not a valid choice value", choices_doc, chname)
        label_info("choice", chname, body, choices_doc)

    canonical = {
        "name": name,
        "version": str(version),
        "description": description,
        "guidance": {"en": guidance_en, "ar": guidance_ar},
        "entity_types": list(entities),
        "event_types": event_types,
        "roles": role_fillers,
        "choices": list(choices_doc),
        "labels": sorted(
            [k[0], k[1], v.en, v.ar, v.hotkey or "", v.color or ""] for k, v in info.items()
        ),
    }
    digest = hashlib.sha256(
        json.dumps(canonical, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    return Ontology(
        name=name,
        version=str(version),
        description=description,
        entity_types=list(entities),
        event_types=event_types,
        roles=list(role_fillers),
        role_fillers=role_fillers,
        choices=list(choices_doc),
        guidance="\n\n".join(t for t in (guidance_en, guidance_ar) if t),
        guidance_en=guidance_en,
        guidance_ar=guidance_ar,
        hash=digest,
        info=info,
        path=path,
    )


# --- span validation --------------------------------------------------------------------------


def validate_spans(
    spans: Iterable[Span], text: str, ontology: Ontology
) -> tuple[list[Span], list[tuple[Span, str]]]:
    """Split spans into (valid, [(invalid, reason)]) for `text` under `ontology`.

    A valid span has integer offsets with 0 <= start < end <= len(text), does not begin or end
    on whitespace, has kind "entity" or "trigger" with a label of that kind in the ontology, a
    finite score in [0, 1], and is not an exact repeat of an earlier span.
    """
    good: list[Span] = []
    bad: list[tuple[Span, str]] = []
    seen: set[tuple] = set()
    n = len(text)
    for s in spans:
        reason = _span_problem(s, text, n, ontology)
        if reason is None:
            key = (s.start, s.end, s.label, s.kind)
            if key in seen:
                reason = "duplicate span"
            else:
                seen.add(key)
        if reason is None:
            good.append(s)
        else:
            bad.append((s, reason))
    return good, bad


def _span_problem(s: Span, text: str, n: int, ontology: Ontology) -> str | None:
    if type(s.start) is not int or type(s.end) is not int:
        return f"offsets must be integers (got {s.start!r}, {s.end!r})"
    if not 0 <= s.start < s.end <= n:
        return f"offsets [{s.start}, {s.end}) outside the sentence (length {n}) or empty"
    if text[s.start].isspace() or text[s.end - 1].isspace():
        return f"span [{s.start}, {s.end}) begins or ends with whitespace"
    if s.kind not in SPAN_KINDS:
        return f"kind {s.kind!r} is not one of {', '.join(SPAN_KINDS)}"
    kind = ontology.kind_of(s.label)
    if kind is None:
        return f"label {s.label!r} is not in ontology {ontology.name!r}"
    if kind != s.kind:
        return f"label {s.label!r} is an {'entity' if kind == 'entity' else 'event'} type, not a {s.kind}"
    try:
        score = float(s.score)
    except (TypeError, ValueError):
        return f"score {s.score!r} is not a number"
    if not math.isfinite(score) or not 0.0 <= score <= 1.0:
        return f"score {s.score!r} outside [0, 1]"
    return None


# --- Label Studio labeling config -------------------------------------------------------------


def _hint(i: LabelInfo) -> str:
    return " / ".join(t for t in (i.en, i.ar) if t)


def label_config_xml(ontology: Ontology) -> str:
    """The Label Studio labeling config for `ontology` (deterministic: same ontology, same XML).

    Layout: title and neighbouring sentences read-only, the sentence right-to-left with word
    granularity, entity and trigger span labels, argument roles as relation labels, the
    per-sentence choice, and a collapsed guidance panel.
    """
    root = ET.Element("View")
    # Keep every space as it is in the text: offsets count them all.
    ET.SubElement(root, "Style").text = ".htx-text { white-space: pre-wrap; }"
    ET.SubElement(root, "Header", value="$title", size="5")

    def context(name: str) -> None:
        outer = ET.SubElement(root, "View", style="color: #666; font-size: 0.9em")
        ET.SubElement(
            ET.SubElement(outer, "View", style=RTL_STYLE),
            "Text",
            name=name,
            value=f"${name}",
            selectionEnabled="false",
        )

    context("context_before")
    main = ET.SubElement(root, "View", style="font-size: 1.3em; margin: 0.5em 0")
    ET.SubElement(
        ET.SubElement(main, "View", style=RTL_STYLE),
        "Text",
        name="text",
        value="$text",
        granularity="word",
    )
    context("context_after")

    def labels(name: str, kind: str, names: Iterable[str], title: str) -> None:
        ET.SubElement(root, "Header", value=title, size="6")
        group = ET.SubElement(root, "Labels", name=name, toName="text")
        for n in names:
            i = ontology.describe(kind, n)
            attrs = {"value": n}
            if i.color:
                attrs["background"] = i.color
            if i.hotkey:
                attrs["hotkey"] = i.hotkey
            if _hint(i):
                attrs["hint"] = _hint(i)
            ET.SubElement(group, "Label", attrs)

    labels("entities", "entity", ontology.entity_types, "Entities · الكيانات")
    labels("triggers", "trigger", ontology.event_types, "Event triggers · مُشغِّلات الأحداث")

    ET.SubElement(
        root, "Header", value="Argument roles (relation trigger → entity) · الأدوار", size="6"
    )
    rel = ET.SubElement(root, "Relations")
    for r in ontology.roles:
        ET.SubElement(rel, "Relation", value=r)

    ET.SubElement(root, "Header", value="Sentence · الجملة", size="6")
    ch = ET.SubElement(
        root, "Choices", name="sentence", toName="text", choice="single", showInline="true"
    )
    for n in ontology.choices:
        i = ontology.describe("choice", n)
        attrs = {"value": n}
        if i.hotkey:
            attrs["hotkey"] = i.hotkey
        if _hint(i):
            attrs["hint"] = _hint(i)
        ET.SubElement(ch, "Choice", attrs)

    # Guidance, collapsed: one header line per paragraph line, then what each role means.
    panel = ET.SubElement(ET.SubElement(root, "Collapse"), "Panel", value="Guidance · إرشادات")
    for text, style in (
        (ontology.guidance_en, "direction: ltr"),
        (ontology.guidance_ar, RTL_STYLE),
    ):
        if not text:
            continue
        box = ET.SubElement(panel, "View", style=style)
        for line in text.splitlines():
            if line.strip():
                ET.SubElement(box, "Header", value=line.strip(), size="6")
    roles_box = ET.SubElement(panel, "View")
    for ev, ev_roles in ontology.event_types.items():
        ET.SubElement(roles_box, "Header", value=f"{ev}: {', '.join(ev_roles) or '-'}", size="6")
    for r in ontology.roles:
        i = ontology.describe("role", r)
        fillers = ", ".join(ontology.role_fillers[r])
        ET.SubElement(
            roles_box, "Header", value=f"{r} ({fillers}): {_hint(i)}".rstrip(": "), size="6"
        )

    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"
