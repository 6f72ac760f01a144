"""`corpus project create|push` against a real Label Studio (and the pure helpers around it)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import wire_workspace
from typer.testing import CliRunner

import corpus.cli
from corpus.errors import LabelStudioError
from corpus.labelstudio import client as lsmod
from corpus.labelstudio import push as pushmod
from corpus.labelstudio import server as srv
from corpus.labelstudio.client import LabelStudio
from corpus.labelstudio.push import config_labels, push_workspace
from corpus.ontology import default_ontology_path, guidance_html, label_config_xml, load_ontology
from corpus.workspace import Workspace

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def cli(*args) -> str:
    result = runner.invoke(corpus.cli.app, [str(a) for a in args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return " ".join(result.output.split())


def cli_error(capsys, *args) -> tuple[int, str]:
    """Run through main() (typed errors become messages) and return (exit code, stderr)."""
    with pytest.raises(SystemExit) as e:
        corpus.cli.main([str(a) for a in args])
    return e.value.code, " ".join(capsys.readouterr().err.split())


def server_tasks(url: str, key: str, project_id: int) -> list[dict]:
    """Every task of the project straight from the API (not through our ledger)."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Token {key}"}, timeout=60,
                      trust_env=False) as http:  # fmt: skip
        r = http.get("/api/tasks", params={"project": project_id, "page_size": 100_000,
                                            "fields": "all"})  # fmt: skip
        r.raise_for_status()
        return sorted(r.json()["tasks"], key=lambda t: t["id"])


def sentence_counts(ws: Workspace) -> tuple[Counter, set]:
    server = ws.read_state("server")
    pid = ws.read_state("project")["project_id"]
    client = LabelStudio(server["url"], server["api_key"])  # no workspace: no ledger involved
    counts = Counter(sid for _, sid in client.iter_tasks(pid))
    return counts, set(pq.read_table(ws.sentences_path).column("sentence_id").to_pylist())


def annotate(url: str, key: str, task_id: int, result: list) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Token {key}"}, timeout=60,
                      trust_env=False) as http:  # fmt: skip
        r = http.post(f"/api/tasks/{task_id}/annotations/", json={"result": result})
        assert r.status_code == 201, r.text


def region(rid: str, text: str, fragment: str, label: str, control: str = "entities") -> dict:
    start = text.index(fragment)
    return {"id": rid, "from_name": control, "to_name": "text", "type": "labels",
            "value": {"start": start, "end": start + len(fragment), "text": fragment,
                      "labels": [label]}}  # fmt: skip


# --- pure helpers ---------------------------------------------------------------------------------


def test_config_labels_reads_controls_and_relations_of_the_generated_config():
    ontology = load_ontology(default_ontology_path())
    labels = config_labels(label_config_xml(ontology))
    assert labels["entities"] == set(ontology.entity_types)
    assert labels["triggers"] == set(ontology.event_types)
    assert labels["relations"] == set(ontology.roles)
    assert labels["sentence"] == set(ontology.choices) == {"has-event", "no-event", "noise"}


def test_guidance_html_escapes_and_joins_wrapped_lines(tmp_path):
    p = tmp_path / "o.yaml"
    p.write_text(
        "name: t\nentity_types: {PER: {}}\nevent_types: {Attack: {}}\nroles: {}\nguidance:\n"
        '  en: "Mark <b>whole</b> words & names.\\nSecond line.\\n\\nNext"\n'
        "  ar: الفقرة الأولى\n",
        encoding="utf-8",
    )
    html = guidance_html(load_ontology(p))
    assert html.startswith(
        '<div dir="rtl" lang="ar"><p>الفقرة الأولى</p></div><div dir="ltr" lang="en">'
        "<p>Mark &lt;b&gt;whole&lt;/b&gt; words &amp; names. Second line.</p><p>Next</p></div>"
    )


def test_connect_without_any_server_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    ws = Workspace.init(tmp_path / "ws")
    code, err = cli_error(capsys, "project", "create", "-w", ws.root)
    assert code == 1 and "embedded server is not running" in err and "corpus server start" in err


def test_url_without_key_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    ws = Workspace.init(tmp_path / "ws")
    code, err = cli_error(capsys, "project", "push", "-w", ws.root)
    assert code == 1 and "LABEL_STUDIO_API_KEY is not set" in err and "127.0.0.1:9" in err


def test_unreachable_server_names_the_url(tmp_path, monkeypatch, capsys):
    url = f"http://127.0.0.1:{srv.free_port()}"  # nothing listens there
    monkeypatch.setenv("LABEL_STUDIO_URL", url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "some-key-123456")
    ws = Workspace.init(tmp_path / "ws")
    code, err = cli_error(capsys, "project", "create", "-w", ws.root)
    assert code == 1 and "Cannot reach Label Studio" in err and url in err
    assert "LABEL_STUDIO_URL" in err and "some-key-123456" not in err


# --- against a real server ------------------------------------------------------------------------


@pytest.mark.server
def test_project_from_the_ontology_is_validated_created_and_reused(ls_workspace, capsys):
    ws = ls_workspace
    ontology = load_ontology(ws.ontology_path)
    out = cli("project", "create", "-w", ws.root)
    state = ws.read_state("project")
    pid = state["project_id"]
    assert f"Created project {pid}" in out and state["ontology_hash"] == ontology.hash
    assert state["server"] == "embedded" and state["url"].endswith(f"/projects/{pid}/data")
    client = LabelStudio.connect(ws)
    project = client.get_project(pid)
    # The contract's config, accepted by the server as generated.
    assert project["label_config"].strip() == label_config_xml(ontology).strip()
    assert project["title"] == "Arabic events" and project["show_instruction"]
    assert "Mark whole words" in project["expert_instruction"]
    assert f"Reusing project {pid}" in cli("project", "create", "-w", ws.root)
    assert len(list(client.sdk.projects.list())) == 1
    # A custom title sticks: a later create without --title does not rename it back.
    cli("project", "create", "--title", "Syria [batch 1]", "-w", ws.root)
    assert client.get_project(pid)["title"] == "Syria [batch 1]"
    assert f"Reusing project {pid}" in cli("project", "create", "-w", ws.root)
    assert client.get_project(pid)["title"] == "Syria [batch 1]"
    assert ws.read_state("project")["title"] == "Syria [batch 1]"
    from corpus.pull.review import review_title

    assert review_title(ws) == "Syria [batch 1]"  # the review project is named after it
    # A config the server rejects: its own message is shown.
    with pytest.raises(LabelStudioError) as e:
        client.validate_config("<View><Text name='text' value='$text'/><Labels name='x' "
                               "toName='nowhere'><Label value='A'/></Labels></View>")  # fmt: skip
    assert "rejected the labeling config" in e.value.message and "nowhere" in e.value.message
    assert client.url in e.value.message


@pytest.mark.server
def test_push_sends_every_sentence_once_with_validated_predictions(
    ls_workspace, ls_server, stage_files, tmp_path
):
    ws = ls_workspace
    stage_files(ws)
    cli("project", "create", "-w", ws.root)
    out = cli("project", "push", "--limit", "2", "-w", ws.root)
    assert "7 sentences in the workspace, 2 selected, 0 already in the project, 2 sent" in out
    out = cli("project", "push", "-w", ws.root)
    assert "7 selected, 2 already in the project, 5 sent" in out
    assert "5 predicted spans failed validation" not in out  # warnings go to stderr
    out = cli("project", "push", "-w", ws.root)
    assert "7 already in the project, 0 sent" in out

    server = ws.read_state("server")
    pid = ws.read_state("project")["project_id"]
    tasks = server_tasks(server["url"], server["api_key"], pid)
    sentences = {r["sentence_id"]: r for r in pq.read_table(ws.sentences_path).to_pylist()}
    assert sorted(t["data"]["sentence_id"] for t in tasks) == sorted(sentences)
    for t in tasks:
        data = t["data"]
        assert set(data) == {"text", "sentence_id", "article_id", "title", "context_before",
                             "context_after"}  # fmt: skip
        assert data["text"] == sentences[data["sentence_id"]]["text"]
        for p in t["predictions"]:
            assert p["model_version"] == "lexicon-1" and 0 < p["score"] <= 1
            for r in p["result"]:
                v = r["value"]
                assert data["text"][v["start"] : v["end"]] == v["text"]
    # Events first: the first tasks created are the sentences with a predicted trigger.
    with_trigger = [
        any(r["from_name"] == "triggers" for p in t["predictions"] for r in p["result"])
        for t in tasks
    ]
    assert with_trigger == [True] * 4 + [False] * 3
    client = LabelStudio.connect(ws)
    assert client.get_project(pid)["model_version"] == "lexicon-1"
    quarantined = pq.read_table(ws.quarantine_dir / "push.parquet").to_pylist()
    assert len(quarantined) == 5 and all(q["stage"] == "push" for q in quarantined)
    assert any("XYZ" in q["reason"] for q in quarantined)

    # A second workspace on the same server: --sample/--seed/--only-with-events.
    ws2 = wire_workspace(tmp_path / "ws2", ls_server)
    stage_files(ws2, extra_sentences=60)
    cli("project", "create", "-w", ws2.root)
    assert ws2.read_state("project")["project_id"] != pid
    sample = ["--sample", "10", "--seed", "3", "--only-with-events", "-w", ws2.root]
    out = cli("project", "push", *sample)
    assert "10 selected, 0 already in the project, 10 sent" in out
    assert "10 with predicted events" in out
    assert "10 already in the project, 0 sent" in cli("project", "push", *sample)


@pytest.mark.server
def test_push_killed_midway_then_rerun_has_every_sentence_exactly_once(ls_workspace, stage_files):
    ws = ls_workspace
    stage_files(ws, extra_sentences=800)
    cli("project", "create", "-w", ws.root)
    pid = ws.read_state("project")["project_id"]
    ledger = pushmod.ledger_for(LabelStudio.connect(ws), pid).path
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "corpus", "project", "push", "--batch-size", "25",
         "-w", str(ws.root)],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if ledger.exists() and ledger.read_text().count("\n") >= 100:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the push finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    counts, all_ids = sentence_counts(ws)
    assert 100 <= sum(counts.values()) < len(all_ids)  # really interrupted midway
    out = cli("project", "push", "-w", ws.root)
    # Some already there (not "0 already", which "100 already" also contains as text).
    assert not re.search(r"(?<!\d)0 already in the project", out)
    counts, all_ids = sentence_counts(ws)
    assert set(counts) == all_ids and set(counts.values()) == {1}
    assert "807 already in the project, 0 sent" in cli("project", "push", "-w", ws.root)


class FlakyImports(httpx.BaseTransport):
    """Real HTTP, except chosen import requests: "commit-then-502" forwards the request (the
    server stores the tasks) and answers 502; "drop" fails before sending; "down" always 503."""

    def __init__(self, plan: dict[int, str], down_from: int | None = None):
        self.inner = httpx.HTTPTransport()
        self.plan, self.down_from, self.imports = plan, down_from, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/import"):
            self.imports += 1
            what = self.plan.get(self.imports)
            if self.down_from and self.imports >= self.down_from:
                return httpx.Response(503, json={"detail": "maintenance"})
            if what == "commit-then-502":
                response = self.inner.handle_request(request)
                response.read()
                return httpx.Response(502, text="<html>Bad gateway</html>")
            if what == "drop":
                raise httpx.ConnectError("connection reset", request=request)
        return self.inner.handle_request(request)


@pytest.mark.server
def test_server_errors_mid_push_are_retried_without_duplicates(
    ls_workspace, ls_server, stage_files, tmp_path, monkeypatch
):
    ws = ls_workspace
    stage_files(ws, extra_sentences=93)  # 100 sentences
    cli("project", "create", "-w", ws.root)
    transport = FlakyImports({2: "commit-then-502", 3: "drop", 5: "commit-then-502"})
    client = LabelStudio.connect(ws, transport=transport)
    client.retry_wait = 0.05
    report = push_workspace(client, ws, batch_size=20)
    assert report.sent == 100 and report.retries == 3
    counts, all_ids = sentence_counts(ws)
    assert set(counts) == all_ids and set(counts.values()) == {1}

    # A server that stays down: the push gives up with a clear error; a re-run completes it.
    ws = wire_workspace(tmp_path / "ws2", ls_server)
    stage_files(ws, extra_sentences=93)
    cli("project", "create", "-w", ws.root)
    monkeypatch.setattr(lsmod, "RETRIES", 2)
    client = LabelStudio.connect(ws, transport=FlakyImports({2: "commit-then-502"}, down_from=3))
    client.retry_wait = 0.05
    with pytest.raises(LabelStudioError) as e:
        push_workspace(client, ws, batch_size=20)
    assert "kept failing" in e.value.message and "HTTP 503" in e.value.message
    assert "sends nothing twice" in e.value.hint and client.url in e.value.message
    out = cli("project", "push", "-w", ws.root)
    assert "40 already in the project, 60 sent" in out
    counts, all_ids = sentence_counts(ws)
    assert set(counts) == all_ids and set(counts.values()) == {1}


@pytest.mark.server
def test_any_server_through_the_environment(ls_server, tmp_path, monkeypatch, stage_files, capsys):
    ws = Workspace.init(tmp_path / "ws")  # no embedded server recorded at all
    stage_files(ws)
    monkeypatch.setenv("LABEL_STUDIO_URL", ls_server.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", ls_server.api_key)
    cli("project", "create", "-w", ws.root)
    assert ws.read_state("project")["server"] == ls_server.url
    assert "7 sent" in cli("project", "push", "-w", ws.root)
    assert "0 sent" in cli("project", "push", "-w", ws.root)
    # Tasks deleted by hand in Label Studio are noticed (count check) and sent again.
    pid = ws.read_state("project")["project_id"]
    client = LabelStudio.connect(ws)
    first = min(t for t, _ in client.iter_tasks(pid))
    r = httpx.delete(f"{ls_server.url}/api/tasks/{first}/",
                     headers={"Authorization": f"Token {ls_server.api_key}"})  # fmt: skip
    assert r.status_code == 204
    assert "6 already in the project, 1 sent" in cli("project", "push", "-w", ws.root)

    # A wrong key: a clear error naming the server, never the key.
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "wrong-key-0123456789")
    code, err = cli_error(capsys, "project", "push", "-w", ws.root)
    assert code == 1 and "rejected the API key" in err and "HTTP 401" in err
    assert ls_server.url in err and "LABEL_STUDIO_API_KEY" in err
    assert "wrong-key-0123456789" not in err


def edit_ontology(ws: Workspace, drop_entity=None, drop_role=None) -> None:
    doc = yaml.safe_load(ws.ontology_path.read_text(encoding="utf-8"))
    dropped_roles = [drop_role] if drop_role else []
    if drop_entity:
        del doc["entity_types"][drop_entity]
        for name, body in doc["roles"].items():
            if body and drop_entity in body.get("entity_types", []):
                body["entity_types"].remove(drop_entity)
                if not body["entity_types"]:  # a role nothing can fill goes too
                    dropped_roles.append(name)
    for role in dropped_roles:
        del doc["roles"][role]
        for body in doc["event_types"].values():
            if role in body.get("roles", []):
                body["roles"].remove(role)
    ws.ontology_path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")


@pytest.mark.server
def test_config_changes_that_would_orphan_labels_are_refused(ls_workspace, stage_files, capsys):
    ws = ls_workspace
    stage_files(ws)
    cli("project", "create", "-w", ws.root)
    cli("project", "push", "-w", ws.root)
    server, pid = ws.read_state("server"), ws.read_state("project")["project_id"]
    task = next(t for t in server_tasks(server["url"], server["api_key"], pid)
                if t["data"]["text"].startswith("قصفت"))  # fmt: skip
    text = task["data"]["text"]
    annotate(server["url"], server["api_key"], task["id"], [
        region("t", text, "قصفت", "Conflict.Attack", "triggers"),
        region("e", text, "القوات الحكومية", "ORG"),
        {"from_id": "t", "to_id": "e", "type": "relation", "direction": "right",
         "labels": ["Attacker"]},
    ])  # fmt: skip
    original = ws.ontology_path.read_text(encoding="utf-8")

    # Pushing with an edited ontology, before the project knows it, is refused.
    edit_ontology(ws, drop_entity="VEH")
    code, err = cli_error(capsys, "project", "push", "-w", ws.root)
    assert code == 1 and "changed since project" in err and "corpus project create" in err
    # Dropping an unused label is fine: the config is updated.
    assert f"Updated the labeling config of project {pid}" in cli(
        "project", "create", "-w", ws.root
    )
    assert (
        "VEH"
        not in config_labels(LabelStudio.connect(ws).get_project(pid)["label_config"])["entities"]
    )
    # Dropping a label or a role that an annotation uses is refused, naming them.
    ws.ontology_path.write_text(original, encoding="utf-8")
    edit_ontology(ws, drop_entity="ORG")
    code, err = cli_error(capsys, "project", "create", "-w", ws.root)
    assert code == 1 and "entities: ORG (1 uses)" in err and "annotations still use" in err
    ws.ontology_path.write_text(original, encoding="utf-8")
    edit_ontology(ws, drop_role="Attacker")
    code, err = cli_error(capsys, "project", "create", "-w", ws.root)
    assert code == 1 and "relations: Attacker (1 uses)" in err
    ws.ontology_path.write_text(original, encoding="utf-8")
    assert "Updated" in cli("project", "create", "-w", ws.root)  # back to the full ontology


@pytest.mark.server
def test_export_json_streams_a_full_snapshot(ls_workspace, stage_files, tmp_path):
    ws = ls_workspace
    stage_files(ws)
    cli("project", "create", "-w", ws.root)
    cli("project", "push", "-w", ws.root)
    server, pid = ws.read_state("server"), ws.read_state("project")["project_id"]
    tasks = server_tasks(server["url"], server["api_key"], pid)
    text = tasks[0]["data"]["text"]
    annotate(server["url"], server["api_key"], tasks[0]["id"],
             [region("t", text, text.split()[0], "PER")])  # fmt: skip
    client = LabelStudio.connect(ws)
    info = client.export_json(pid, tmp_path / "out" / "export.json")
    assert info["task_count"] == 7 and info["path"] == tmp_path / "out" / "export.json"
    exported = json.loads(info["path"].read_text(encoding="utf-8"))
    assert len(exported) == 7 and sum(len(t["annotations"]) for t in exported) == 1
    assert sum(1 for t in exported if t["predictions"]) == 5  # full JSON: predictions included
    assert not list((tmp_path / "out").glob("*.part"))
    only = client.export_json(pid, tmp_path / "annotated.json", only_annotated=True)
    assert len(json.loads(only["path"].read_text(encoding="utf-8"))) == 1
    # Snapshots are removed from the server once downloaded.
    assert client.sdk.projects.exports.list(pid) == []


# --- the ledger and its reconciliation with the server (an in-memory fake server) --------------


class FakeServer:
    """Just enough of the Label Studio API for the ledger: project task count, keyset-filtered
    task listing, bulk import. Counts the listing requests."""

    def __init__(self):
        self.tasks: dict[int, str] = {}
        self.next_id = 1
        self.listings = 0

    def add(self, sids):
        ids = []
        for s in sids:
            self.tasks[self.next_id] = s
            ids.append(self.next_id)
            self.next_id += 1
        return ids

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/projects/1/":
            return httpx.Response(200, json={"id": 1, "task_number": len(self.tasks)})
        if path == "/api/tasks":
            query = json.loads(request.url.params["query"])
            size = int(request.url.params["page_size"])
            ids = sorted(self.tasks, reverse=query["ordering"] == ["-tasks:id"])
            items = query.get("filters", {}).get("items", [])
            if items:
                self.listings += 1
                ids = [i for i in ids if i > items[0]["value"]]
            return httpx.Response(200, json={"tasks": [
                {"id": i, "data": {"sentence_id": self.tasks[i]}} for i in ids[:size]
            ]})  # fmt: skip
        if path == "/api/projects/1/import":
            sids = [t["data"]["sentence_id"] for t in json.loads(request.content)]
            return httpx.Response(201, json={"task_ids": self.add(sids)})
        return httpx.Response(404, json={"detail": "not here"})


@pytest.fixture
def fake(tmp_path):
    server = FakeServer()
    ws = Workspace.init(tmp_path / "ws")
    client = LabelStudio("http://fake", "k" * 40, workspace=ws,
                         transport=httpx.MockTransport(server.handler))  # fmt: skip
    return server, client


def test_ledger_drops_a_torn_last_line(tmp_path):
    path = tmp_path / "ledger.tsv"
    path.write_text("s1\t1\ns2\t2\ns3\t3", encoding="utf-8")  # "3" may be the start of "31"
    ledger = pushmod.Ledger(path)
    assert ledger.tasks == {1: "s1", 2: "s2"}
    ledger.add([("s4", 4)])
    assert path.read_text(encoding="utf-8") == "s1\t1\ns2\t2\ns4\t4\n"


def test_a_ledger_in_step_with_the_server_needs_no_listing(fake):
    server, client = fake
    pushmod.import_batch(client, 1, [{"data": {"sentence_id": f"s{i}"}} for i in range(5)])
    assert pushmod.existing_sentence_ids(client, 1) == {f"s{i}" for i in range(5)}
    assert server.listings == 0


def test_tasks_the_ledger_missed_are_read_from_the_tail_only(fake):
    server, client = fake
    pushmod.import_batch(client, 1, [{"data": {"sentence_id": f"s{i}"}} for i in range(5)])
    server.add(["s5", "s6"])  # committed by a push killed before its ledger write
    assert pushmod.existing_sentence_ids(client, 1) == {f"s{i}" for i in range(7)}
    assert server.listings == 1  # one page above the ledger's highest id
    assert pushmod.existing_sentence_ids(client, 1) == {f"s{i}" for i in range(7)}
    assert server.listings == 1  # and the ledger now knows them


def test_tasks_deleted_on_the_server_rebuild_the_ledger(fake):
    server, client = fake
    pushmod.import_batch(client, 1, [{"data": {"sentence_id": f"s{i}"}} for i in range(5)])
    del server.tasks[2]
    assert pushmod.existing_sentence_ids(client, 1) == {"s0", "s2", "s3", "s4"}
    assert pushmod.ledger_for(client, 1).tasks == {1: "s0", 3: "s2", 4: "s3", 5: "s4"}


def test_import_returns_task_ids_in_input_order_after_a_recovered_failure(fake, monkeypatch):
    server, client = fake
    calls = {"n": 0}
    inner = server.handler

    def flaky(request):
        if request.url.path.endswith("/import"):
            calls["n"] += 1
            if calls["n"] == 1:  # half the batch stored, then the connection dropped
                body = json.loads(request.content)
                server.add([t["data"]["sentence_id"] for t in body[:2]])
                raise httpx.ReadError("connection reset", request=request)
        return inner(request)

    client._http = httpx.Client(base_url="http://fake", transport=httpx.MockTransport(flaky))
    client.retry_wait = 0.01
    monkeypatch.setattr(lsmod.time, "sleep", lambda s: None)
    tasks = [{"data": {"sentence_id": f"s{i}"}} for i in range(4)]
    ids = client.import_tasks(1, tasks)
    assert sorted(server.tasks.values()) == ["s0", "s1", "s2", "s3"]  # nothing twice
    assert [server.tasks[i] for i in ids] == ["s0", "s1", "s2", "s3"]
