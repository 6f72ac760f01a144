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

from corpus.bundled import ontology_file
from corpus.errors import OntologyError
from corpus.types import Span

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
    "choice_required",
)
_LABEL_KEYS = ("hotkey", "color", "en", "ar", "name_ar")


def default_ontology_path() -> Path:
    """The ontology bundled with the package (copied into each new workspace)."""
    return ontology_file()


@dataclass(frozen=True)
class LabelInfo:
    """One entity type, event type, role or choice with its annotator-facing description."""

    name: str
    en: str = ""
    ar: str = ""
    hotkey: str | None = None
    color: str | None = None
    name_ar: str = ""  # short Arabic name shown beside the value on buttons and in tables


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
    choice_required: bool = False  # the sentence choice must be made before submitting

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
            name_ar=c.text(body.get("name_ar"), f"{where}.name_ar", body, "name_ar"),
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

    choice_required = doc.get("choice_required", False)
    if not isinstance(choice_required, bool):
        raise c.fail("choice_required", "expected true or false", doc, "choice_required")

    canonical = {
        "name": name,
        "version": str(version),
        "description": description,
        "guidance": {"en": guidance_en, "ar": guidance_ar},
        "entity_types": list(entities),
        "event_types": event_types,
        "roles": role_fillers,
        "choices": list(choices_doc),
        # Arabic names and choice_required only when set: older ontologies keep their hash.
        "labels": sorted(
            [k[0], k[1], v.en, v.ar, v.hotkey or "", v.color or ""]
            + ([v.name_ar] if v.name_ar else [])
            for k, v in info.items()
        ),
    }
    if choice_required:
        canonical["choice_required"] = True
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
        choice_required=choice_required,
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

# Our classes on the config's Views: every rule of the Style block is scoped under PAGE_CLASS.
PAGE_CLASS = "corpus-page"
# Faces with full Arabic shaping, most readable first: Naskh (newsprint), then the faces Windows
# (Segoe UI, Tahoma, Traditional Arabic) and macOS (Geeza Pro) ship, then any sans-serif.
ARABIC_FONTS = (
    '"Noto Naskh Arabic", "Amiri", "Scheherazade New", "Noto Sans Arabic", "Geeza Pro", '
    '"Segoe UI", Tahoma, "Traditional Arabic", "DejaVu Sans", sans-serif'
)
# Sizes in px: Label Studio sets 16px/20px on `.lsf-htx-richtext` itself, so relative sizes on a
# wrapper have no effect; these rules name that class under ours to win on specificity.
SENTENCE_PX, CONTEXT_PX, TITLE_PX, HEADER_PX = 24, 15, 18, 14
# Line height of the sentence: relation arrows are drawn between lines, above the words.
SENTENCE_LINE_HEIGHT = 2.6
_RLI, _LRI, _PDI = "\u2067", "\u2066", "\u2069"  # bidi isolates for plain-text tooltips


def _isolated(text: str, rtl: bool) -> str:
    return f"{_RLI if rtl else _LRI}{text}{_PDI}" if text else ""


def _hint(i: LabelInfo) -> str:
    """A hover hint (plain text, shown left-to-right by Label Studio): each language isolated, so
    the Arabic keeps its full stop and brackets at its own end."""
    return " · ".join(t for t in (_isolated(i.en, False), _isolated(i.ar, True)) if t)


def _display(i: LabelInfo, html: bool = False) -> str:
    """What a button shows: the value (what results store), and its Arabic name (in HTML in
    its own right-to-left span, so the hotkey after it stays outside the Arabic run)."""
    if not i.name_ar:
        return i.name
    if html:
        from html import escape

        return f'{escape(i.name)} · <span dir="rtl">{escape(i.name_ar)}</span>'
    return f"{i.name} · {i.name_ar}"


def _paragraphs(text: str) -> list[str]:
    """Paragraphs are separated by blank lines; a single line break only wraps the text."""
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text or "") if p.strip()]


def guidance_html(ontology: Ontology) -> str:
    """The annotator guidance as HTML: Arabic paragraphs right-to-left, English left-to-right,
    then, per event type, its roles and the entity types allowed to fill each.

    Used for the project's Instructions and the guidance panel of the labeling page. Written in
    the form Label Studio's HTML sanitiser stores (no inline styles, double-quoted attributes),
    so an unchanged guidance compares equal to the stored one.
    """
    from html import escape

    def paras(text: str, lang: str, direction: str) -> str:
        body = "".join(f"<p>{escape(p, quote=False)}</p>" for p in _paragraphs(text))
        return f'<div dir="{direction}" lang="{lang}">{body}</div>' if body else ""

    def both(kind: str, name: str) -> str:
        i = ontology.describe(kind, name)
        ar = f' · <span dir="rtl">{escape(i.name_ar, quote=False)}</span>' if i.name_ar else ""
        return f"<b>{escape(name, quote=False)}</b>{ar}"

    rows = []
    for ev, roles in ontology.event_types.items():
        span = max(1, len(roles))
        head = (
            f'<td rowspan="{span}">{both("trigger", ev)}</td>'
            if span > 1
            else (f"<td>{both('trigger', ev)}</td>")
        )
        if not roles:
            rows.append(f"<tr>{head}<td>-</td><td>-</td><td></td></tr>")
        for n, r in enumerate(roles):
            info = ontology.describe("role", r)
            fillers = " ".join(ontology.role_fillers[r])
            desc = escape(info.ar or info.en, quote=False)
            rows.append(
                f"<tr>{head if n == 0 else ''}<td>{both('role', r)}</td>"
                f'<td dir="ltr">{escape(fillers, quote=False)}</td><td>{desc}</td></tr>'
            )
    table = (
        '<h3>الأدوار لكل نوع حدث · Roles per event type</h3><table dir="rtl"><thead><tr>'
        "<th>الحدث · Event</th><th>الدور · Role</th><th>الكيانات المسموح بها · Entity types</th>"
        "<th>المعنى</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )
    return (
        paras(ontology.guidance_ar, "ar", "rtl") + paras(ontology.guidance_en, "en", "ltr") + table
    )


def _style(ontology: Ontology) -> str:
    """The page's CSS, every rule under `.corpus-page` so nothing outside the task changes."""
    p = f".{PAGE_CLASS}"
    triggers = ",\n".join(
        f'{p} .corpus-sentence .htx-highlight[data-label$=":{ev}"]' for ev in ontology.event_types
    )
    return f"""
{p} {{ --corpus-arabic: {ARABIC_FONTS}; }}
{p} .htx-text, {p} .lsf-htx-richtext {{ white-space: pre-wrap; }}
/* Label Studio's data manager sets `font-family: var(--font-sans) !important` on every element:
   redefining the variable in our containers is what reaches the words. */
{p} .corpus-title, {p} .corpus-context, {p} .corpus-sentence, {p} .corpus-guidance {{
  --font-sans: var(--corpus-arabic); font-family: var(--corpus-arabic);
}}
{p} .corpus-title h1, {p} .corpus-title h2, {p} .corpus-title h3, {p} .corpus-title h4,
{p} .corpus-title h5, {p} .corpus-title h6 {{
  direction: rtl; text-align: right; unicode-bidi: plaintext;
  font-size: {TITLE_PX}px; line-height: 1.6; font-weight: 700; margin: 0 0 6px;
}}
{p} .corpus-title :empty, {p} .corpus-context:has(.lsf-htx-richtext:empty),
{p} .corpus-context:has(.lsf-richtext__line:empty) {{ display: none; }}
{p} .corpus-context .lsf-htx-richtext {{
  font-size: {CONTEXT_PX}px; line-height: 1.8; color: #595959;
}}
{p} .corpus-sentence {{ padding: 28px 4px 10px; }}
{p} .corpus-sentence .lsf-htx-richtext {{
  font-size: {SENTENCE_PX}px; line-height: {SENTENCE_LINE_HEIGHT};
  color: #1a1a1a;
}}
{p} .corpus-sentence .htx-highlight::after {{ unicode-bidi: isolate; direction: ltr; }}
{triggers} {{
  font-weight: 700; text-decoration: underline 2px; text-underline-offset: 0.45em;
}}
{p} .corpus-controls h1, {p} .corpus-controls h2, {p} .corpus-controls h3,
{p} .corpus-controls h4, {p} .corpus-controls h5, {p} .corpus-controls h6 {{
  font-size: {HEADER_PX}px; line-height: 1.4; margin: 10px 0 4px;
}}
{p} .corpus-guidance .lsf-htx-richtext {{ font-size: 14px; line-height: 1.7; }}
{p} .corpus-guidance table {{ border-collapse: collapse; margin: 6px 0; }}
{p} .corpus-guidance td, {p} .corpus-guidance th {{
  border: 1px solid #ccc; padding: 2px 8px; text-align: start; vertical-align: top;
}}
"""


def label_config_xml(ontology: Ontology) -> str:
    """The Label Studio labeling config for `ontology` (deterministic: same ontology, same XML).

    Layout: the title and the neighbouring sentences read-only, the sentence right-to-left with
    word granularity, large and with room above each line for relation arrows; entity and
    trigger span labels and the sentence choice with bilingual names (`html`: the stored value
    stays the label's name); argument roles as relation labels; a collapsed guidance panel with
    the roles of each event type. Sizes, fonts and bidi isolation come from a `<Style>` block
    scoped to our own classes.
    """
    root = ET.Element("View", className=PAGE_CLASS)
    ET.SubElement(root, "Style").text = _style(ontology)
    title = ET.SubElement(root, "View", className="corpus-title", style=RTL_STYLE)
    ET.SubElement(title, "Header", value="$title", size="4")

    def text_view(name: str, cls: str, **attrs: str) -> None:
        outer = ET.SubElement(root, "View", className=cls)
        ET.SubElement(
            ET.SubElement(outer, "View", style=RTL_STYLE),
            "Text",
            name=name,
            value=f"${name}",
            **attrs,
        )

    text_view("context_before", "corpus-context", selectionEnabled="false")
    text_view("text", "corpus-sentence", granularity="word")
    text_view("context_after", "corpus-context", selectionEnabled="false")

    controls = ET.SubElement(root, "View", className="corpus-controls")

    def labels(name: str, kind: str, names: Iterable[str], header: str) -> None:
        ET.SubElement(controls, "Header", value=header, size="6")
        group = ET.SubElement(controls, "Labels", name=name, toName="text")
        for n in names:
            i = ontology.describe(kind, n)
            attrs = {"value": n}
            if i.name_ar:
                attrs["html"] = _display(i, html=True)
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
        controls,
        "Header",
        value="Argument roles · الأدوار: click the trigger, Alt+R, click the participant, pick the "
        "role under Relations",
        size="6",
    )
    rel = ET.SubElement(controls, "Relations")
    for r in ontology.roles:
        ET.SubElement(rel, "Relation", value=r)

    ET.SubElement(controls, "Header", value="Sentence · الجملة", size="6")
    ch_attrs = {"name": "sentence", "toName": "text", "choice": "single", "showInline": "true"}
    if ontology.choice_required:
        names = " / ".join(_display(ontology.describe("choice", n)) for n in ontology.choices)
        ch_attrs |= {"required": "true", "requiredMessage": f"Choose one · اختر واحداً: {names}"}
    ch = ET.SubElement(controls, "Choices", ch_attrs)
    for n in ontology.choices:
        i = ontology.describe("choice", n)
        attrs = {"value": n}
        if i.name_ar:
            attrs["html"] = _display(i, html=True)
        if i.hotkey:
            attrs["hotkey"] = i.hotkey
        if _hint(i):
            attrs["hint"] = _hint(i)
        ET.SubElement(ch, "Choice", attrs)

    # Guidance, collapsed: the same right-to-left HTML as the project's Instructions.
    panel = ET.SubElement(ET.SubElement(root, "Collapse"), "Panel", value="Guidance · إرشادات")
    ET.SubElement(
        ET.SubElement(panel, "View", className="corpus-guidance"),
        "HyperText",
        name="guidance",
        value=guidance_html(ontology),
        inline="true",
    )

    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"
