"""`corpus pull` and `corpus review` against a real Label Studio (started by the fixtures).

Two users (the admin, and a second one signed up through the server's own invite link) annotate
through the API: relations in both directions, a cancelled task, a modified prediction, an
annotation edited and one deleted between two pulls, and a deliberately corrupted region. The
conflicting sentence then goes through review push, a decision, and review pull.
"""

from __future__ import annotations

import json
import re
import secrets

import httpx
import pyarrow.parquet as pq
import pytest
from pullkit import write_sentences
from typer.testing import CliRunner

import corpus.cli
from corpus.labelstudio.client import LabelStudio
from corpus.labelstudio.push import ensure_project
from corpus.ontology import label_config_xml, load_ontology
from corpus.pull.adjudication import REVIEW_MARK, adjudicate
from corpus.pull.parse import Pseudonymizer

pytestmark = pytest.mark.server

runner = CliRunner()


def pull(ws, *command) -> dict:
    """Run a pull command with --json and return its report."""
    path = ws.state_dir / "test-report.json"
    cli(*command, "-w", ws.root, "--json", path)
    return json.loads(path.read_text("utf-8"))


def cli(*args) -> str:
    result = runner.invoke(corpus.cli.app, [str(a) for a in args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return " ".join(result.output.split())


def invite_and_sign_up(url: str, admin_key: str, email: str) -> tuple[int, str]:
    """Sign a new user up through the organisation's invite link; returns (user id, token)."""
    with httpx.Client(base_url=url, trust_env=False, timeout=30) as admin:
        invite = admin.get("/api/invite", headers={"Authorization": f"Token {admin_key}"})
        invite.raise_for_status()
        link = invite.json()["invite_url"]  # /user/signup/?token=...
    with httpx.Client(base_url=url, trust_env=False, timeout=30) as browser:
        form = browser.get(link)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        password = secrets.token_urlsafe(12) + "-Aa1"
        r = browser.post(
            link,
            data={"csrfmiddlewaretoken": csrf, "email": email, "password": password},
            headers={"Referer": url + link},
        )
        assert r.status_code == 302, r.text[:500]  # signed up and logged in
        me = browser.get("/api/current-user/whoami").json()
        token = browser.get("/api/current-user/token").json()["token"]
    return int(me["id"]), token


class User:
    """One annotator talking to the API with their own token."""

    def __init__(self, url: str, token: str):
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Token {token}"}, trust_env=False, timeout=30
        )

    def annotate(self, task_id: int, result: list, **extra) -> int:
        r = self.http.post(f"/api/tasks/{task_id}/annotations/", json={"result": result, **extra})
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    def edit(self, annotation_id: int, result: list) -> None:
        r = self.http.patch(f"/api/annotations/{annotation_id}/", json={"result": result})
        assert r.status_code == 200, r.text

    def delete(self, annotation_id: int) -> None:
        assert self.http.delete(f"/api/annotations/{annotation_id}/").status_code == 204

    def task(self, task_id: int) -> dict:
        return self.http.get(f"/api/tasks/{task_id}").json()


def span(rid, text, fragment, label, control="entities", claimed=None):
    start = text.index(fragment)
    return {
        "id": rid,
        "from_name": control,
        "to_name": "text",
        "type": "labels",
        "value": {
            "start": start,
            "end": start + len(fragment),
            "text": claimed or fragment,
            "labels": [label],
        },
    }


def relation(a, b, role):
    return {"from_id": a, "to_id": b, "type": "relation", "direction": "right", "labels": [role]}


def choice(value):
    return {
        "id": "ch",
        "from_name": "sentence",
        "to_name": "text",
        "type": "choices",
        "value": {"choices": [value]},
    }


def test_pull_and_review_against_a_real_server(ls_workspace):
    ws = ls_workspace
    write_sentences(ws)
    sentences = {r["sentence_id"]: r["text"] for r in pq.read_table(ws.sentences_path).to_pylist()}
    ontology = load_ontology(ws.ontology_path)
    client = LabelStudio.connect(ws)
    project = ensure_project(
        client,
        title="pull test",
        label_config=label_config_xml(ontology),
        ontology_hash=ontology.hash,
    )
    pid = project.project_id

    A, D, B, M = "s-aleppo", "s-deir", "s-baghdad", "s-mosul"
    predicted = [
        span("p1", sentences[A], "القوات الحكومية", "ORG"),
        span("p2", sentences[A], "مدينة حلب", "GPE"),
        span("p3", sentences[A], "قصفت", "Conflict.Attack", "triggers"),
    ]
    tasks = [
        {
            "data": {"text": sentences[s], "sentence_id": s, "article_id": "a", "title": "",
                     "context_before": "", "context_after": ""},
            **({"predictions": [{"model_version": "lexicon-1", "result": predicted}]}
               if s == A else {}),
        }
        for s in (A, D, B, M)
    ]  # fmt: skip
    task_ids = dict(zip((A, D, B, M), client.import_tasks(pid, tasks), strict=True))

    server = ws.read_state("server")
    email = f"ann2-{secrets.token_hex(3)}@example.org"
    admin = User(client.url, server["api_key"])
    admin_id = int(client.whoami()["id"])
    second_id, second_token = invite_and_sign_up(client.url, server["api_key"], email)
    second = User(client.url, second_token)
    assert second_id != admin_id

    # Admin starts from the prediction and modifies it: حلب instead of مدينة حلب, a relation
    # drawn from the entity to the trigger, a role on the other end.
    prediction_id = admin.task(task_ids[A])["predictions"][0]["id"]
    ta = sentences[A]
    admin_aleppo = [
        span("p1", ta, "القوات الحكومية", "ORG"),
        span("p2", ta, "حلب", "GPE"),
        span("p3", ta, "قصفت", "Conflict.Attack", "triggers"),
        relation("p3", "p1", "Attacker"),
        {**relation("p2", "p3", "Place"), "direction": "left"},
        choice("has-event"),
    ]
    a1 = admin.annotate(task_ids[A], admin_aleppo, lead_time=31.5, parent_prediction=prediction_id)
    a2 = second.annotate(
        task_ids[A],
        [span("q1", ta, "القوات الحكومية", "ORG"), span("q3", ta, "قصفت", "Conflict.Attack",
         "triggers"), relation("q1", "q3", "Target"), choice("has-event")],
        lead_time=12.0,
    )  # fmt: skip
    td = sentences[D]
    deir = [span("d1", td, "#دير_الزور", "GPE"), span("d2", td, "مقتلَ", "Life.Die", "triggers"),
            relation("d2", "d1", "Place"), choice("has-event")]  # fmt: skip
    a3 = admin.annotate(task_ids[D], deir, lead_time=20.0)
    a4 = second.annotate(task_ids[D], deir, lead_time=25.0)
    a5 = second.annotate(task_ids[B], [], was_cancelled=True, lead_time=4.0)
    tm = sentences[M]
    a6 = admin.annotate(
        task_ids[M], [span("m1", tm, "مسلحون", "PER", claimed="مسلحين"), choice("has-event")]
    )

    report = pull(ws, "pull")
    assert (report["added"], report["quarantined"], report["cancelled"]) == (5, 1, 1)
    assert report["quarantine_reasons"] == [
        f"task {task_ids[M]} annotation {a6}: region m1: text[5:11] is 'مسلحون' but the region "
        "says 'مسلحين'"
    ]
    rows = {r["annotation_id"]: r for r in pq.read_table(ws.annotations_path).to_pylist()}
    assert sorted(rows) == sorted([a1, a2, a3, a4, a5])
    pseudo = Pseudonymizer.for_workspace(ws)
    assert rows[a1]["annotator"] == pseudo.for_user_id(admin_id)
    assert rows[a2]["annotator"] == pseudo.for_user_id(second_id) != rows[a1]["annotator"]
    assert email.encode() not in ws.annotations_path.read_bytes()
    r1 = rows[a1]
    assert (r1["prediction_id"], r1["prediction_model_version"]) == (prediction_id, "lexicon-1")
    assert r1["lead_time"] == 31.5 and r1["choice"] == "has-event" and not r1["cancelled"]
    assert [(e["text"], e["label"]) for e in r1["entities"]] == [
        ("القوات الحكومية", "ORG"),
        ("حلب", "GPE"),
    ]
    assert {(a["trigger_id"], a["entity_id"], a["role"]) for a in r1["arguments"]} == {
        ("p3", "p1", "Attacker"),
        ("p3", "p2", "Place"),  # drawn entity -> trigger
    }
    assert rows[a2]["arguments"] == [{"trigger_id": "q3", "entity_id": "q1", "role": "Target"}]
    assert rows[a2]["prediction_id"] is None and rows[a5]["cancelled"] is True
    assert rows[a3]["updated_at"] is not None and rows[a3]["created_at"] is not None

    # Edit one annotation, delete another, fix the corrupted one: the next pull reflects it.
    admin.edit(a3, deir[:1] + [choice("no-event")])
    second.delete(a4)
    admin.edit(a6, [span("m1", tm, "مسلحون", "PER"), choice("has-event")])
    report = pull(ws, "pull")
    assert not report["full"] and report["deleted_ids"] == [a4]
    assert (report["added"], report["updated"], report["unchanged"]) == (1, 1, 3)
    rows = {r["annotation_id"]: r for r in pq.read_table(ws.annotations_path).to_pylist()}
    assert sorted(rows) == sorted([a1, a2, a3, a5, a6])
    assert rows[a3]["choice"] == "no-event" and rows[a3]["triggers"] == []

    # Review: the Aleppo sentence conflicts; the reviewer picks the second user's version.
    out = cli("review", "push", "-w", ws.root)
    assert "1 conflicting sentence(s)" in out and "sent 1 review task(s)" in out
    out = cli("review", "push", "-w", ws.root)  # nothing twice: one review task below
    assert "1 conflicting sentence(s); 1 already sent for review" in out
    review_pid = ws.read_state("review")["project_id"]
    ((review_task_id, sid),) = list(client.iter_tasks(review_pid))
    assert sid == A
    versions = {p["model_version"]: p for p in admin.task(review_task_id)["predictions"]}
    assert set(versions) == {
        f"{rows[a1]['annotator']} #{a1}",
        f"{rows[a2]['annotator']} #{a2}",
    }
    picked = versions[f"{rows[a2]['annotator']} #{a2}"]
    decision = admin.annotate(
        review_task_id, picked["result"], parent_prediction=picked["id"], lead_time=9.0
    )
    report = pull(ws, "review", "pull")
    assert report["added"] == 1 and report["conflicts"] == 0
    table = pq.read_table(ws.annotations_path)
    chosen = {r["sentence_id"]: r for r in adjudicate(table, policy="latest").to_pylist()}
    won = chosen[A]
    assert won["annotation_id"] == decision and won["project_id"] == review_pid
    assert won["prediction_model_version"] == REVIEW_MARK + picked["model_version"]
    assert [a["role"] for a in won["arguments"]] == ["Target"]
    # Pulling the main project again keeps the decision.
    cli("pull", "-w", ws.root)
    assert decision in pq.read_table(ws.annotations_path).column("annotation_id").to_pylist()
