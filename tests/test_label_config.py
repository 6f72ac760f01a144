"""The annotator's page as the generated labeling config sets it up: sizes that take effect,
right-to-left title and guidance, legible distinct colours, bilingual names over stable values,
the required sentence choice, the roles table. (The browser test checks the rendered page.)"""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from corpus.labelstudio.push import config_labels
from corpus.labelstudio.tasks import shown_context
from corpus.ontology import (
    ARABIC_FONTS,
    CONTEXT_PX,
    HEADER_PX,
    PAGE_CLASS,
    RTL_STYLE,
    SENTENCE_LINE_HEIGHT,
    SENTENCE_PX,
    default_ontology_path,
    guidance_html,
    label_config_xml,
    load_ontology,
)

# What Label Studio 1.23.2 does with a label colour (measured in the browser): highlights are the
# colour at 30% over white under near-black text (38, 37, 34); the Regions list writes the label
# name in the colour itself on white.
HIGHLIGHT_ALPHA = 0.3
TEXT_ON_HIGHLIGHT = (38, 37, 34)
WHITE = (255, 255, 255)


@pytest.fixture(scope="module")
def onto():
    return load_ontology(default_ontology_path())


@pytest.fixture(scope="module")
def root(onto):
    return ET.fromstring(label_config_xml(onto))


# --- colour arithmetic (WCAG 2.x relative luminance, CIELAB D65, CIEDE2000) --------------------


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    return tuple(int(h[i : i + 2], 16) for i in (0, 2, 4))


def _linear(c: float) -> float:
    c /= 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(rgb) -> float:
    r, g, b = (_linear(x) for x in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def over_white(rgb, alpha: float):
    return tuple(alpha * c + (1 - alpha) * 255 for c in rgb)


def lab(rgb):
    r, g, b = (_linear(x) for x in rgb)
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t):
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    fx, fy, fz = f(x), f(y), f(z)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def delta_e2000(c1, c2) -> float:
    (l1, a1, b1), (l2, a2, b2) = c1, c2
    cbar = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(cbar**7 / (cbar**7 + 25**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p = math.degrees(math.atan2(b1, a1p)) % 360
    h2p = math.degrees(math.atan2(b2, a2p)) % 360
    dl, dc = l2 - l1, c2p - c1p
    dh = 0.0
    if c1p * c2p:
        dh = h2p - h1p
        dh = dh - 360 if dh > 180 else dh + 360 if dh < -180 else dh
    dhh = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dh / 2))
    lbar, cbarp = (l1 + l2) / 2, (c1p + c2p) / 2
    if not c1p * c2p:
        hbar = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        hbar = (h1p + h2p) / 2
    else:
        hbar = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    t = (
        1
        - 0.17 * math.cos(math.radians(hbar - 30))
        + 0.24 * math.cos(math.radians(2 * hbar))
        + 0.32 * math.cos(math.radians(3 * hbar + 6))
        - 0.20 * math.cos(math.radians(4 * hbar - 63))
    )
    dtheta = 30 * math.exp(-(((hbar - 275) / 25) ** 2))
    rc = 2 * math.sqrt(cbarp**7 / (cbarp**7 + 25**7))
    sl = 1 + 0.015 * (lbar - 50) ** 2 / math.sqrt(20 + (lbar - 50) ** 2)
    sc, sh = 1 + 0.045 * cbarp, 1 + 0.015 * cbarp * t
    rt = -math.sin(math.radians(2 * dtheta)) * rc
    return math.sqrt(
        (dl / sl) ** 2 + (dc / sc) ** 2 + (dhh / sh) ** 2 + rt * (dc / sc) * (dhh / sh)
    )


def test_colour_arithmetic_matches_known_values():
    assert contrast((0, 0, 0), WHITE) == pytest.approx(21.0)
    assert contrast(_rgb("#777"), WHITE) == pytest.approx(4.48, abs=0.01)
    # Sharma, Wu & Dalal (2005) CIEDE2000 test data, pairs 1 and 17.
    assert delta_e2000((50, 2.6772, -79.7751), (50, 0, -82.7485)) == pytest.approx(2.0425, 1e-3)
    assert delta_e2000((50, 2.5, 0), (73, 25, -18)) == pytest.approx(27.1492, 1e-3)


def _label_colours(onto) -> dict[str, tuple[int, int, int]]:
    kinds = [("entity", n) for n in onto.entity_types] + [("trigger", n) for n in onto.event_types]
    return {n: _rgb(onto.describe(k, n).color) for k, n in kinds}


def test_every_label_colour_is_legible(onto):
    for name, rgb in _label_colours(onto).items():
        # The name written in the colour on white (Regions list): WCAG AA for normal text.
        assert contrast(rgb, WHITE) >= 4.5, name
        # The words under a highlight stay easy to read: WCAG AAA.
        assert contrast(TEXT_ON_HIGHLIGHT, over_white(rgb, HIGHLIGHT_ALPHA)) >= 7, name


def test_label_colours_are_distinct(onto):
    colours = _label_colours(onto)
    entities = set(onto.entity_types)
    for (a, ca), (b, cb) in itertools.combinations(colours.items(), 2):
        full = delta_e2000(lab(ca), lab(cb))
        light = delta_e2000(
            lab(over_white(ca, HIGHLIGHT_ALPHA)), lab(over_white(cb, HIGHLIGHT_ALPHA))
        )
        same_kind = (a in entities) == (b in entities)
        # Full colours (chips, Regions list) clearly apart; highlights apart, more so within a
        # kind (triggers are also bold and underlined, which tells them from entities).
        assert full >= 12, (a, b, full)
        assert light >= (8 if same_kind else 5.5), (a, b, light)


# --- the page layout --------------------------------------------------------------------------


def _css_rules(css: str) -> list[tuple[str, str]]:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    return [(sel.strip(), body) for sel, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css)]


def test_style_block_is_scoped_and_sets_sizes_that_win(root):
    (style,) = root.iter("Style")
    rules = _css_rules(style.text)
    assert rules
    for selectors, _ in rules:
        for sel in selectors.split(","):
            assert sel.split()[0] == f".{PAGE_CLASS}", sel  # nothing outside our page
    assert root.get("className") == PAGE_CLASS

    def body(selector_part: str) -> str:
        return next(b for s, b in rules if selector_part in s)

    # Label Studio sets 16px/20px on `.lsf-htx-richtext`: ours names that class under two of ours.
    sentence = body(".corpus-sentence .lsf-htx-richtext")
    context = body(".corpus-context .lsf-htx-richtext")
    assert f"font-size: {SENTENCE_PX}px" in sentence and f"font-size: {CONTEXT_PX}px" in context
    assert SENTENCE_PX > CONTEXT_PX and SENTENCE_PX > HEADER_PX  # the sentence is the largest
    assert f"line-height: {SENTENCE_LINE_HEIGHT}" in sentence and SENTENCE_LINE_HEIGHT >= 2
    room = next(b for sel, b in rules if sel.endswith(".corpus-sentence"))
    assert "padding: 28px" in room  # room above the first line for relation arrows
    # Real Arabic faces first, reaching the words past the data manager's !important rule.
    assert ARABIC_FONTS.startswith('"Noto Naskh Arabic"') and "Tahoma" in ARABIC_FONTS
    assert "--font-sans: var(--corpus-arabic)" in style.text
    # Region labels ("4:Life.Injure") isolated from the Arabic around them.
    assert "unicode-bidi: isolate" in body(".htx-highlight::after")


def test_title_context_and_sentence_are_right_to_left(root):
    for cls in ("corpus-title",):
        (view,) = [v for v in root.iter("View") if v.get("className") == cls]
        assert view.get("style") == RTL_STYLE and view.find("Header").get("value") == "$title"
    for name, cls in (
        ("context_before", "corpus-context"),
        ("text", "corpus-sentence"),
        ("context_after", "corpus-context"),
    ):
        (outer,) = [
            v for v in root.iter("View") if v.find(f"View/Text[@name='{name}']") is not None
        ]
        assert outer.get("className") == cls and outer.find("View").get("style") == RTL_STYLE


def test_bilingual_names_keep_the_stored_values(onto, root):
    # Values are what results store: the same as before the bilingual display, so pull keeps
    # working and no label of an existing project is orphaned.
    labels = config_labels(label_config_xml(onto))
    assert labels["entities"] == set(onto.entity_types)
    assert labels["triggers"] == set(onto.event_types)
    assert labels["sentence"] == {"has-event", "no-event", "noise"}
    assert not [e for e in root.iter() if e.get("alias")]
    per = root.find(".//Label[@value='PER']")
    assert per.get("html") == 'PER · <span dir="rtl">شخص</span>'
    has = root.find(".//Choice[@value='has-event']")
    assert has.get("html") == 'has-event · <span dir="rtl">فيها حدث</span>'
    # Hints: each language in its own bidi isolate, so the Arabic keeps its punctuation.
    hint = per.get("hint")
    assert hint.startswith("\u2066Person") and "\u2067شخص باسمه" in hint and hint.endswith("\u2069")


def test_sentence_choice_is_required_where_the_ontology_says_so(onto, root, tmp_path):
    assert onto.choice_required
    choices = root.find(".//Choices[@name='sentence']")
    assert choices.get("required") == "true" and "has-event" in choices.get("requiredMessage")
    src = default_ontology_path().read_text(encoding="utf-8")
    p = tmp_path / "o.yaml"
    p.write_text(src.replace("choice_required: true", "choice_required: false"), encoding="utf-8")
    optional = ET.fromstring(label_config_xml(load_ontology(p)))
    assert optional.find(".//Choices[@name='sentence']").get("required") is None
    p.write_text(src.replace("choice_required: true", "choice_required: maybe"), encoding="utf-8")
    with pytest.raises(Exception, match="choice_required: expected true or false"):
        load_ontology(p)


def test_hash_of_an_ontology_without_the_new_keys_is_unchanged(tmp_path):
    # name_ar and choice_required enter the hash only when set: an older workspace's ontology
    # keeps its hash, so its project is not reported as changed.
    p = tmp_path / "o.yaml"
    p.write_text(
        "name: tiny\nentity_types: {PER: {}}\nevent_types: {Attack: {roles: [A]}}\n"
        "roles: {A: {}}\n",
        encoding="utf-8",
    )
    before = load_ontology(p).hash
    # The hash this file had before the keys existed.
    assert before == "3683f9011c1bb1da36a371c861b906265b0c805c5aeeb29683a44e7432971466"
    p.write_text(p.read_text() + "choice_required: false\n", encoding="utf-8")
    assert load_ontology(p).hash == before


# --- guidance and instructions ----------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.open: list[tuple[str, dict]] = []
        self.paragraphs: list[tuple[str, str]] = []  # (direction of the enclosing div, text)
        self.rows: list[list[str]] = []
        self._text: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.open.append((tag, dict(attrs)))
        if tag == "p":
            self._text = []
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        while self.open and self.open[-1][0] != tag:
            self.open.pop()
        if self.open:
            self.open.pop()
        if tag == "p":
            direction = next(a.get("dir") for t, a in reversed(self.open) if a.get("dir"))
            self.paragraphs.append((direction, "".join(self._text)))
            self._text = None
        elif tag in ("td", "th"):
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        for buf in (self._text, self._cell):
            if buf is not None:
                buf.append(data)


def test_guidance_is_right_to_left_paragraphs_that_match_the_buttons(onto, root):
    html = guidance_html(onto)
    # The same HTML in the page's guidance panel as in the project's Instructions.
    assert root.find(".//HyperText[@name='guidance']").get("value") == html
    assert "style=" not in html and "<br" not in html  # the sanitiser's stored form
    tags = _Tags()
    tags.feed(html)
    arabic = [t for d, t in tags.paragraphs if d == "rtl"]
    english = [t for d, t in tags.paragraphs if d == "ltr"]
    assert len(arabic) == len(english) == 5
    assert all(re.search(r"[\u0600-\u06ff]{3}", t) for t in arabic)
    # A phrase is never cut across two blocks (the old Headers split "أطلق / النار").
    assert any('"أطلق النار"' in t for t in arabic) and any('"أطلق النار"' in t for t in english)
    # The choices named in the guidance are the buttons' own names.
    buttons = {c.get("value") for c in root.iter("Choice")}
    shown = {re.sub(r"<[^>]+>", "", c.get("html")) for c in root.iter("Choice") if c.get("html")}
    for text in (arabic[-1], english[-1]):
        quoted = set(re.findall(r'"([^"]+)"', text))
        assert quoted and quoted <= buttons | shown, quoted


def test_roles_table_lists_each_event_types_roles_and_fillers(onto):
    tags = _Tags()
    tags.feed(guidance_html(onto))
    header, *rows = tags.rows
    assert "Role" in header[1] and "Entity types" in header[2]
    seen: dict[str, list[tuple[str, str]]] = {}
    event = None
    for row in rows:
        if len(row) == 4:  # the first row of an event type carries its name
            event = row[0].split(" · ")[0]
            row = row[1:]
        seen.setdefault(event, []).append((row[0].split(" · ")[0], row[1]))
    assert list(seen) == list(onto.event_types)
    for ev, roles in onto.event_types.items():
        assert seen[ev] == [(r, " ".join(onto.role_fillers[r])) for r in roles]
    assert ("Victim", "PER NUM") in seen["Life.Die"]


# --- tasks without noise ----------------------------------------------------------------------


def test_shown_context_never_shows_a_line_twice():
    title = "مقتل سبعة مقاتلين بقصف مسيّرة"
    # The headline sentence: its text is the title, so the title line is left out.
    assert shown_context(title, title, None, "قال مسؤول.") == ("", "", "قال مسؤول.")
    # The sentence after the headline: the neighbour before it is the title.
    assert shown_context("قال مسؤول.", title, title + " ", "وأضاف.") == (title, "", "وأضاف.")
    # Nothing to drop; missing parts become empty strings (hidden by the config).
    assert shown_context("نص", "عنوان", None, None) == ("عنوان", "", "")
    assert shown_context("نص", None, "قبل", "بعد") == ("", "قبل", "بعد")
