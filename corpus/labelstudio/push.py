"""Push policy: what goes to Label Studio and how a push stays idempotent and resumable.

All HTTP goes through `corpus.labelstudio.client.LabelStudio`; this module decides. Pushing does
not ask the server to list every task (it serves only ~1,400 tasks/s that way): a per-project
ledger in the workspace records `sentence_id -> task id` after every imported batch, and is
checked against the server's task count and highest task id on every push. When they disagree (a
push killed after the server committed a batch, tasks added or deleted by hand), only the tasks
above the ledger's highest id are listed, or, failing that, the whole project, and the ledger is
rebuilt from the server. Project set-up (`ensure_project`) refuses a config that would orphan
labels annotations still use.
"""

from __future__ import annotations

import json
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from corpus.errors import LabelStudioError
from corpus.ids import content_id
from corpus.io import (
    parquet_file,
    read_schema,
    require,
)
from corpus.labelstudio.client import (
    PROJECT_STATE,
    RELATIONS_KEY,
    LabelStudio,
    PushCounts,
    task_sentence_id,
)
from corpus.labelstudio.tasks import Selection, TaskBatch, iter_task_batches, plan_push
from corpus.lock import temp_path
from corpus.ontology import load_ontology
from corpus.quarantine import Quarantine
from corpus.types import QuarantinedRow
from corpus.workspace import Workspace


@dataclass
class ProjectResult:
    project_id: int
    action: str  # "created" | "reused" | "updated"
    url: str
    note: str = ""


def _differs(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, str) and isinstance(wanted, str):
        return stored.strip() != wanted.strip()
    return stored != wanted


def config_labels(config_xml: str) -> dict[str, set[str]]:
    """Label values per control name (`entities`, `triggers`, `sentence`) and `relations`."""
    root = ET.fromstring(config_xml)
    out: dict[str, set[str]] = {}
    for el in root.iter():
        if el.tag in ("Labels", "Choices", "Taxonomy") and el.get("name"):
            out.setdefault(el.get("name"), set()).update(
                c.get("value") for c in el.iter() if c.tag in ("Label", "Choice") and c.get("value")
            )
        elif el.tag == "Relations":
            out.setdefault(RELATIONS_KEY, set()).update(
                c.get("value") for c in el if c.tag == "Relation" and c.get("value")
            )
    return out


class Ledger:
    """`task id -> sentence_id` of tasks known to be in one project, appended after each batch.

    A tab-separated file; a line torn by a kill is ignored (the reconcile step finds the task).
    """

    def __init__(self, path: Path):
        self.path = path
        self.tasks: dict[int, str] = {}
        if path.exists():
            data = path.read_bytes()
            if data and not data.endswith(b"\n"):
                # A write cut by a kill: drop the torn line (its number may be cut short too).
                data = data[: data.rfind(b"\n") + 1]
                with open(path, "r+b") as f:
                    f.truncate(len(data))
            for line in data.decode("utf-8").splitlines():
                sid, _, tid = line.partition("\t")
                if tid.isdigit():
                    self.tasks[int(tid)] = sid

    @property
    def max_id(self) -> int:
        return max(self.tasks, default=0)

    def sentence_ids(self) -> set[str]:
        return {s for s in self.tasks.values() if s}

    def add(self, pairs: Iterable[tuple[str, int]]) -> None:
        new = [(s, t) for s, t in pairs if t not in self.tasks]
        if not new:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write("".join(f"{s}\t{t}\n" for s, t in new))
            f.flush()
            os.fsync(f.fileno())
        self.tasks.update((t, s) for s, t in new)

    def replace(self, tasks: dict[int, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(self.path)
        tmp.write_text("".join(f"{s}\t{t}\n" for t, s in sorted(tasks.items())), encoding="utf-8")
        os.replace(tmp, self.path)
        self.tasks = dict(tasks)


def ledger_for(client: LabelStudio, project_id: int) -> Ledger | None:
    """The ledger of a project on this server, kept in the workspace (None without one)."""
    if client.workspace is None:
        return None
    name = content_id(client.server_key, length=8)
    return Ledger(client.workspace.state_dir / "pushed" / f"{name}-{project_id}.tsv")


def existing_sentence_ids(client: LabelStudio, project_id: int) -> set[str]:
    """sentence_ids of the tasks already in the project, reconciled with the server."""
    ledger = ledger_for(client, project_id)
    if ledger is None:
        return {s for _, s in client.iter_tasks(project_id) if s}
    count, max_id = client.count_and_max_id(project_id)
    if len(ledger.tasks) == count and (count == 0 or max_id == ledger.max_id):
        return ledger.sentence_ids()
    if ledger.tasks and count > len(ledger.tasks):
        # Usually a push interrupted after the server committed a batch: list only the tail.
        ledger.add((s, t) for t, s in client.iter_tasks(project_id, after_id=ledger.max_id))
        if len(ledger.tasks) == count:
            return ledger.sentence_ids()
    ledger.replace(dict(client.iter_tasks(project_id)))
    return ledger.sentence_ids()


def ensure_project(
    client: LabelStudio,
    *,
    title: str | None,
    label_config: str,
    description: str = "",
    instructions: str = "",
    ontology_hash: str = "",
    model_version: str | None = None,
    default_title: str = "Arabic events",
) -> ProjectResult:
    """Create the workspace's project, or reuse it (updating the config when it changed).

    A config change that drops labels still used by annotations or drafts is refused: those
    annotations would no longer be shown or pulled. `title` None keeps an existing project's
    title (a new project gets `default_title`): only an explicit title renames.
    """
    client.validate_config(label_config)
    state = client.workspace.read_state(PROJECT_STATE) if client.workspace else {}
    fields: dict[str, Any] = {
        "description": description,
        "label_config": label_config,
        "expert_instruction": instructions,
        "show_instruction": bool(instructions),
        "show_collab_predictions": True,  # annotators see the pre-labels
    }
    if model_version:
        fields["model_version"] = model_version
    current = None
    note = ""
    if state.get("project_id") and state.get("server") == client.server_key:
        current = client.get_project(int(state["project_id"]))
        if current is None:
            note = f"project {state['project_id']} no longer exists on the server; "
    elif state.get("project_id"):
        note = f"the recorded project {state['project_id']} is on {state.get('server')}; "
    if title is not None:
        fields["title"] = title
    if current is None:
        title = title or default_title
        pid, action = client.new_project({"title": title, **fields}), "created"
        note += "created a new project"
    else:
        pid = int(current["id"])
        # The server strips surrounding whitespace off the stored config.
        if (current.get("label_config") or "").strip() != label_config.strip():
            _refuse_orphaning(client, pid, current, label_config)
            client.validate_config(label_config, project_id=pid)
        changed = {k: v for k, v in fields.items() if _differs(current.get(k), v)}
        if changed:
            client.update_project(pid, changed)
        action = "updated" if "label_config" in changed else "reused"
        title = title or current.get("title") or default_title
    result = ProjectResult(pid, action, f"{client.url}/projects/{pid}/data", note)
    if client.workspace is not None:
        client.workspace.write_state(
            PROJECT_STATE,
            {
                "project_id": pid,
                "url": result.url,
                "ontology_hash": ontology_hash,
                "server": client.server_key,
                "title": title,
            },
        )
    return result


def _refuse_orphaning(client: LabelStudio, pid: int, current: dict, new_config: str) -> None:
    old, new = (
        config_labels(current.get("label_config") or "<View/>"),
        config_labels(new_config),
    )
    dropped = {c: old[c] - new.get(c, set()) for c in old if old[c] - new.get(c, set())}
    if not dropped:
        return
    used = client.labels_in_use(pid, roles=RELATIONS_KEY in dropped)
    conflicts = [
        f"{control}: {label} ({used[control][label]} uses)"
        for control, labels in sorted(dropped.items())
        for label in sorted(labels)
        if used.get(control, {}).get(label)
    ]
    if conflicts:
        raise LabelStudioError(
            "The new ontology drops labels that annotations still use: " + ", ".join(conflicts),
            url=client.url,
            hint="Keep those labels in the ontology (or change those annotations in Label "
            "Studio first), then run `corpus project create` again.",
        )


def import_batch(
    client: LabelStudio,
    project_id: int,
    tasks: list[dict[str, Any]],
    counts: PushCounts | None = None,
) -> list[int]:
    """Import one batch (see `LabelStudio.import_tasks`) and record it in the ledger."""
    ledger = ledger_for(client, project_id)
    ids = client.import_tasks(project_id, tasks, counts, after_id=ledger.max_id if ledger else 0)
    if ledger is not None and len(ids) == len(tasks):
        ledger.add(zip([task_sentence_id(t) for t in tasks], ids, strict=True))
    return ids


def push_batches(
    client: LabelStudio,
    project_id: int,
    batches: Iterable[TaskBatch],
    on_batch: Callable[[TaskBatch], None] | None = None,
) -> PushCounts:
    """Import batches in order, building the next batch while the server takes this one."""
    counts = PushCounts()
    it = iter(batches)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ls-import") as pool:
        inflight: tuple[TaskBatch, Future] | None = None
        while True:
            batch = next(it, None)  # built while the previous request is in flight
            if inflight is not None:
                done, fut = inflight
                fut.result()
                counts.sent += len(done.tasks)
                counts.batches += 1
                if on_batch:
                    on_batch(done)
                inflight = None
            if batch is None:
                break
            if batch.tasks:
                inflight = (
                    batch,
                    pool.submit(import_batch, client, project_id, batch.tasks, counts),
                )
            elif on_batch:
                on_batch(batch)
    return counts


@dataclass
class PushReport:
    project_id: int
    total: int  # sentences in the workspace
    selected: int
    already: int  # selected but already in the project
    sent: int = 0
    with_predictions: int = 0
    with_events: int = 0
    rejected_spans: int = 0
    retries: int = 0
    model_version: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def push_workspace(
    client: LabelStudio,
    ws: Workspace,
    selection: Any = None,
    *,
    batch_size: int = 2000,
    on_plan: Callable[[Any], None] | None = None,
    on_batch: Callable[[TaskBatch], None] | None = None,
) -> PushReport:
    """Send the workspace's sentences (with pre-labels) to its project; idempotent, resumable.

    1. The project must match the workspace ontology (else its config would not show the labels).
    2. Sentence ids already in the project are looked up (ledger, reconciled with the server).
    3. The plan picks and orders what goes; tasks are built and imported batch by batch, the
       ledger recording each batch, so an interrupted push continues where it stopped.
    4. Rejected predicted spans go to data/quarantine/push.parquet; the project's model version
       is set to the pushed predictions' so annotators see them.
    """
    t0 = time.perf_counter()
    ontology = load_ontology(ws.ontology_path)
    project_id = client.project_id
    recorded = client.project_state.get("ontology_hash")
    if recorded and recorded != ontology.hash:
        raise LabelStudioError(
            f"The ontology ({ws.ontology_path}) changed since project {project_id} was set up.",
            url=client.url,
            hint="Run `corpus project create` to update the project's labeling config first.",
        )

    # ParquetFile, not read_table: the latter imports pyarrow.dataset and pandas (~0.4 s).
    def read(path: Path, columns: list[str]) -> Any:
        return parquet_file(path).read(columns=columns) if path.exists() else None

    require(ws.sentences_path, "corpus segment")
    sentences = read(ws.sentences_path, ["sentence_id", "article_id", "index", "text"])
    pred_cols = ["sentence_id", "spans", "model_version"]
    if ws.predictions_path.exists() and "relations" in read_schema(ws.predictions_path).names:
        pred_cols.append("relations")  # argument pre-labels (files from before have none)
    predictions = read(ws.predictions_path, pred_cols)
    articles = read(ws.articles_path, ["article_id", "title"])

    existing = existing_sentence_ids(client, project_id)
    plan = plan_push(sentences, predictions, existing, selection or Selection())
    if on_plan:
        on_plan(plan)
    report = PushReport(project_id, plan.total, plan.selected, plan.already)
    report.with_events = plan.with_events
    quarantine = Quarantine(ws.quarantine_dir, "push")
    versions: dict[str, int] = {}

    def after_batch(batch: TaskBatch) -> None:
        report.with_predictions += batch.with_predictions
        for task in batch.tasks:
            for p in task.get("predictions", []):
                versions[p["model_version"]] = versions.get(p["model_version"], 0) + 1
        for r in batch.rejected:
            if "relation" in r.span:  # a predicted argument
                rel = r.span["relation"]
                where = (
                    f"sentence {r.sentence_id} relation {rel.get('trigger')}->"
                    f"{rel.get('entity')} {rel.get('role')}"
                )
            else:
                where = (
                    f"sentence {r.sentence_id} span [{r.span.get('start')}, "
                    f"{r.span.get('end')}) {r.span.get('label')}"
                )
            quarantine.add(
                QuarantinedRow(
                    source=str(ws.predictions_path),
                    location=where,
                    reason=r.reason,
                    raw=json.dumps(r.span, ensure_ascii=False, default=str),
                )
            )
        report.rejected_spans += len(batch.rejected)
        if on_batch:
            on_batch(batch)

    try:
        if plan.to_send:  # nothing to send (a repeated push): skip building the tasks' context
            batches = iter_task_batches(
                sentences, predictions, articles, plan, ontology, batch_size
            )
            counts = push_batches(client, project_id, batches, after_batch)
            report.sent, report.retries = counts.sent, counts.retries
    finally:
        quarantine.flush()
    if versions:
        report.model_version = max(versions, key=versions.get)
        client.set_model_version(project_id, report.model_version)
    report.seconds = time.perf_counter() - t0
    return report
