"""The annotator's page in a real browser: Playwright drives the system Chromium against the test
Label Studio, as an annotator would.

It logs in through the real form, opens a pushed task and checks the right-to-left sentence,
the predicted regions and relations; confirms the pre-labelled event (two arguments) with two
keys; then labels a word through the UI on a sentence with diacritics after an emoji and checks
the saved offsets are exact code points. Screenshots go to test-artifacts/screenshots/ (or
$CORPUS_SCREENSHOTS).

Chromium comes from the distribution (scripts/setup installs it); nothing is downloaded here.
Without it (or without Playwright) the test is skipped locally and fails in CI (env CI set).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from test_project_push import cli

from corpus.io import write_table
from corpus.schemas import ARTICLES, PREDICTIONS, SENTENCES

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = Path(os.environ.get("CORPUS_SCREENSHOTS") or ROOT / "test-artifacts" / "screenshots")
# The pushed sentences the test works on (tests/fixtures/labelstudio/sentences.jsonl).
ATTACK = "قصفت القوات الحكومية مدينة حلب صباح الأحد."
CASUALTIES = "🔥 وقال مصدر طبي إن ٣٠ شخصاً قُتِلوا في القصف"
WORD = "شخصاً"  # after an emoji (2 UTF-16 units) and with a diacritic: code points must match
TIMEOUT_MS = 60_000


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("CORPUS_CHROMIUM"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must have it: scripts/setup installs it)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def page(ls_server):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed (pip install -e '.[dev]')")
    exe = chromium_path()
    if exe is None:
        _missing("Chromium is not installed (scripts/setup installs the distribution's package)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(TIMEOUT_MS)
            yield context.new_page()
        finally:
            browser.close()


def _stage_files_with_arguments(ws, stage_tables) -> None:
    """The fixture stage files, with two predicted arguments on the attack sentence."""
    tables = stage_tables()
    preds = tables["predictions"].to_pylist()
    sentences = {r["sentence_id"]: r["text"] for r in tables["sentences"].to_pylist()}
    for row in preds:
        if sentences[row["sentence_id"]] == ATTACK:
            labels = [s["label"] for s in row["spans"]]
            trigger, org, gpe = (labels.index(x) for x in ("Conflict.Attack", "ORG", "GPE"))
            row["relations"] = [
                {"trigger": trigger, "entity": org, "role": "Attacker", "score": 0.8,
                 "source": "rules"},
                {"trigger": trigger, "entity": gpe, "role": "Place", "score": 0.7,
                 "source": "rules"},
            ]  # fmt: skip
    write_table(ws.articles_path, tables["articles"], ARTICLES)
    write_table(ws.sentences_path, tables["sentences"], SENTENCES)
    write_table(ws.predictions_path, pa.Table.from_pylist(preds, schema=PREDICTIONS), PREDICTIONS)


class Api:
    def __init__(self, url: str, key: str):
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Token {key}"}, timeout=60, trust_env=False
        )

    def tasks(self, pid: int) -> list[dict]:
        r = self.http.get("/api/tasks", params={"project": pid, "page_size": 1000, "fields": "all"})
        r.raise_for_status()
        return r.json()["tasks"]

    def annotations(self, task_id: int) -> list[dict]:
        r = self.http.get(f"/api/tasks/{task_id}/annotations/")
        r.raise_for_status()
        return r.json()

    def wait_annotation(self, task_id: int, seconds: float = 30) -> dict:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            anns = self.annotations(task_id)
            if anns:
                return anns[-1]
            time.sleep(0.3)
        raise AssertionError(f"no annotation saved for task {task_id} after {seconds} s")


def _open(page, url: str, pid: int, task_id: int) -> None:
    page.goto(f"{url}/projects/{pid}/data?tab=0&task={task_id}")
    page.wait_for_selector(".corpus-sentence .lsf-htx-richtext")
    # The predicted regions (if any) are drawn once the annotation is built from the prediction.
    page.wait_for_timeout(1000)


def _highlights(page) -> list[tuple[str, str]]:
    """(label, text) of every region drawn in the sentence (a region may span several nodes)."""
    return page.evaluate(
        """() => {
          const byIndex = new Map();
          for (const el of document.querySelectorAll('.corpus-sentence .htx-highlight')) {
            const [index, label] = (el.getAttribute('data-label') || '').split(/:(.*)/s);
            const prev = byIndex.get(index) || [label, ''];
            byIndex.set(index, [label, prev[1] + el.textContent]);
          }
          return [...byIndex.values()];
        }"""
    )


def _select_word(page, word: str) -> None:
    """Drag the mouse across `word` in the sentence, as an annotator selects it."""
    box = page.evaluate(
        """(word) => {
          const root = document.querySelector('.corpus-sentence .lsf-htx-richtext');
          const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
          for (let n; (n = walk.nextNode()); ) {
            const i = n.data.indexOf(word);
            if (i < 0 || n.parentElement.closest('.htx-highlight')) continue;
            const r = document.createRange();
            r.setStart(n, i);
            r.setEnd(n, i + word.length);
            const b = r.getBoundingClientRect();
            return {x: b.x, y: b.y, w: b.width, h: b.height};
          }
          return null;
        }""",
        word,
    )
    assert box, f"{word!r} is not in the sentence"
    y = box["y"] + box["h"] / 2
    # Right to left: the word starts at its right edge.
    page.mouse.move(box["x"] + box["w"] - 1, y)
    page.mouse.down()
    page.mouse.move(box["x"] + 1, y, steps=6)
    page.mouse.up()


def test_annotator_page_in_chromium(page, ls_server, ls_workspace, stage_tables):
    ws = ls_workspace
    _stage_files_with_arguments(ws, stage_tables)
    cli("project", "create", "-w", ws.root)
    cli("project", "push", "-w", ws.root)
    pid = ws.read_state("project")["project_id"]
    api = Api(ls_server.url, ls_server.api_key)
    tasks = {t["data"]["text"]: t for t in api.tasks(pid)}
    attack, casualties = tasks[ATTACK], tasks[CASUALTIES]
    (prediction,) = attack["predictions"]
    predicted = [r for r in prediction["result"] if r["type"] == "labels"]
    relations = [r for r in prediction["result"] if r["type"] == "relation"]
    assert len(relations) == 2  # the push sent both predicted arguments

    # Log in through the real form.
    page.goto(f"{ls_server.url}/user/login")
    page.fill("input[name=email]", ls_server.username)
    page.fill("input[name=password]", ls_server.password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/user/login" not in u)

    # The pushed task with pre-labels: right-to-left sentence, regions on the predicted words.
    _open(page, ls_server.url, pid, attack["id"])
    page.wait_for_selector(".corpus-sentence .htx-highlight")
    style = page.eval_on_selector(
        ".corpus-sentence .lsf-htx-richtext",
        "e => { const s = getComputedStyle(e); return [s.direction, s.textAlign, s.fontSize]; }",
    )
    context_px = page.eval_on_selector(
        ".corpus-context .lsf-htx-richtext", "e => getComputedStyle(e).fontSize"
    )
    assert style[:2] == ["rtl", "right"]
    assert float(style[2].rstrip("px")) > float(context_px.rstrip("px"))  # sizes take effect
    title_dir = page.eval_on_selector(".corpus-title h3", "e => getComputedStyle(e).direction")
    assert title_dir == "rtl"
    shown = sorted(tuple(h) for h in _highlights(page))
    assert shown == sorted((r["value"]["labels"][0], r["value"]["text"]) for r in predicted)
    # The predicted relations are listed (Relations tab) and drawn with their roles.
    page.get_by_text("Relations", exact=True).first.click()
    items = page.locator(".lsf-relations__item")
    items.first.wait_for()
    assert items.count() == 2
    assert all("Conflict.Attack" in t for t in items.all_inner_texts())
    for role in ("Attacker", "Place"):
        assert page.locator("svg text", has_text=role).count() >= 1, role
    page.screenshot(path=str(SCREENSHOTS / "task-with-predictions.png"), full_page=True)
    # Guidance panel and Instructions: right-to-left paragraphs and the roles table.
    page.get_by_text("Guidance · إرشادات").click()
    page.locator(".corpus-guidance table").wait_for()
    page.screenshot(path=str(SCREENSHOTS / "guidance-panel.png"), full_page=True)
    page.get_by_role("button", name="Instructions").click()
    dialog = page.locator(".lsf-modal-ls_visible")
    paragraph = dialog.locator('[dir="rtl"][lang="ar"] p').first
    paragraph.wait_for()
    assert paragraph.evaluate("e => getComputedStyle(e).direction") == "rtl"
    page.screenshot(path=str(SCREENSHOTS / "instructions.png"))
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")

    # Confirming the pre-labelled event with its two arguments: two keys.
    page.keyboard.press("z")  # the sentence choice: has-event
    page.keyboard.press("Control+Enter")  # submit
    saved = api.wait_annotation(attack["id"])["result"]
    assert sorted(r["labels"][0] for r in saved if r["type"] == "relation") == [
        "Attacker",
        "Place",
    ]
    assert [r["value"]["choices"] for r in saved if r["type"] == "choices"] == [["has-event"]]

    # A word selected and labelled through the UI is saved with exact code-point offsets.
    _open(page, ls_server.url, pid, casualties["id"])
    page.locator(".lsf-label", has_text="PER").first.click()
    _select_word(page, WORD)
    page.wait_for_function(
        "w => [...document.querySelectorAll('.corpus-sentence .htx-highlight')]"
        ".some(e => e.textContent === w)",
        arg=WORD,
    )
    page.locator(".lsf-choice", has_text="has-event").first.click()
    page.screenshot(path=str(SCREENSHOTS / "word-labelled-in-the-ui.png"), full_page=True)
    page.get_by_role("button", name="Submit").click()
    saved = api.wait_annotation(casualties["id"])["result"]
    (mine,) = [r for r in saved if r["type"] == "labels" and r["value"]["labels"] == ["PER"]]
    text = casualties["data"]["text"]
    start = text.index(WORD)
    assert (mine["value"]["start"], mine["value"]["end"]) == (start, start + len(WORD))
    assert mine["value"]["text"] == WORD == text[mine["value"]["start"] : mine["value"]["end"]]
    for r in saved:  # every region (kept predictions too) indexes the sentence exactly
        if r["type"] == "labels":
            assert text[r["value"]["start"] : r["value"]["end"]] == r["value"]["text"]
