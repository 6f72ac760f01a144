"""The pull and review workflow's drivers: export a project and pull it into the workspace, and
send conflicting sentences to a review project. The CLI (`corpus pull`, `corpus review push|
pull`) only parses options and prints these functions' reports."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpus.errors import CorpusError, LabelStudioError
from corpus.workspace import Workspace

REVIEW_STATE = "review"
REVIEW_BATCH = 500


def exports_dir(ws: Workspace) -> Path:
    # Exports hold annotator data: kept in the private state folder, removed after a pull.
    d = ws.state_dir / "exports"
    d.mkdir(parents=True, exist_ok=True)
    return d


def workspace_project_id(ws: Workspace) -> int:
    """The main project's id recorded in the workspace; an error naming what to run if none."""
    project = ws.read_state("project")
    if not project.get("project_id"):
        raise LabelStudioError(
            "This workspace has no Label Studio project yet.",
            hint="Run `corpus project create` and `corpus project push` first, "
            "or pass --project ID.",
        )
    return int(project["project_id"])


def read_annotations(ws: Workspace):
    """The pulled annotations; a damaged file is an error naming it."""
    # pyarrow is imported by the commands that need it: `corpus --help` stays fast.
    import pyarrow as pa

    from corpus.io import (
        read_table,
        require,
    )
    from corpus.schemas import ANNOTATIONS

    path = require(ws.annotations_path, "corpus pull")
    try:
        return read_table(path, schema=ANNOTATIONS)
    except (pa.ArrowException, OSError) as e:
        raise CorpusError(
            f"{path} is not a readable annotations file ({e}).",
            "Re-create it from Label Studio with `corpus pull --full`.",
        ) from e


def pull_project(
    ws: Workspace,
    project_id: int,
    *,
    review: bool,
    full: bool,
    export_file: Path | None,
    keep_export: bool,
    client: Any = None,
    exporting: Callable[[int], AbstractContextManager] | None = None,
    on_total: Callable[[int | None], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Any:
    """Fetch (or take) an export snapshot of `project_id` and pull it into the workspace.

    `exporting(project_id)` wraps the wait for the server's export (e.g. a spinner);
    `on_total(tasks)` and `progress(n)` follow the parsing.
    """
    from corpus.pull.parse import pull_snapshot

    snapshot_id: Any = None
    total = None
    versions = None
    path = export_file
    if path is None:
        from corpus.labelstudio.client import LabelStudio

        client = client or LabelStudio.connect(ws)
        path = exports_dir(ws) / f"project-{project_id}.json"
        with exporting(project_id) if exporting else nullcontext():
            info = client.export_json(project_id, path, only_annotated=True)
            if review:  # which version each decision started from
                versions = client.prediction_versions(project_id)
        snapshot_id, total = info.get("snapshot_id"), info.get("task_count")
    if on_total:
        on_total(total)
    try:
        return pull_snapshot(
            ws,
            Path(path),
            project_id,
            snapshot_id=snapshot_id,
            review=review,
            full=full,
            prediction_versions=versions,
            progress=progress or (lambda n: None),
        )
    finally:
        if export_file is None and not keep_export:
            Path(path).unlink(missing_ok=True)


def review_title(ws: Workspace) -> str:
    """The main project's title (a custom `--title` included): the review project is named after
    it."""
    return (
        ws.read_state("project").get("title")
        or ws.section("label_studio").get("project_title")
        or "Arabic events"
    )


def review_context(ws: Workspace, conflicts: list) -> dict[str, tuple[str | None, ...]]:
    """sentence_id -> (title, context_before, context_after) for the conflicting sentences."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from corpus.io import dataset
    from corpus.labelstudio.tasks import neighbours

    articles = sorted({c.rows[0]["article_id"] for c in conflicts if c.rows[0]["article_id"]})
    if not articles or not ws.sentences_path.exists():
        return {}
    wanted = pa.array(articles, pa.string())
    sents = dataset(ws.sentences_path).to_table(
        columns=["sentence_id", "article_id", "index", "text"],
        filter=pc.field("article_id").isin(wanted),
    )
    before, after = neighbours(sents)
    texts = sents.column("text").to_pylist()
    titles: dict[str, str] = {}
    if ws.articles_path.exists():
        arts = dataset(ws.articles_path).to_table(
            columns=["article_id", "title"], filter=pc.field("article_id").isin(wanted)
        )
        titles = dict(
            zip(*(arts.column(c).to_pylist() for c in ("article_id", "title")), strict=True)
        )
    out = {}
    for i, (sid, aid) in enumerate(
        zip(
            sents.column("sentence_id").to_pylist(),
            sents.column("article_id").to_pylist(),
            strict=True,
        )
    ):
        out[sid] = (
            titles.get(aid),
            texts[before[i]] if before[i] >= 0 else None,
            texts[after[i]] if after[i] >= 0 else None,
        )
    return out


@dataclass
class ReviewPushReport:
    conflicts: int
    already: int  # conflicts sent before
    sent: int = 0
    project_id: int | None = None
    created: bool = False
    url: str = ""


def review_push(ws: Workspace, client: Any = None) -> ReviewPushReport:
    """Send the conflicts not yet sent to the review project (created when needed), one task
    per sentence with each annotator's version as a prediction. Resumable: what was sent is
    recorded after every batch."""
    from corpus.ontology import label_config_xml, load_ontology
    from corpus.pull.adjudication import find_conflicts, review_key, review_task

    conflicts = find_conflicts(read_annotations(ws))
    state = ws.read_state(REVIEW_STATE)
    pushed = set(state.get("pushed", []))
    todo = [c for c in conflicts if review_key(c) not in pushed]
    report = ReviewPushReport(len(conflicts), len(conflicts) - len(todo))
    if not todo:
        return report
    if client is None:
        from corpus.labelstudio.client import LabelStudio

        client = LabelStudio.connect(ws)
    pid = state.get("project_id")
    if not pid or state.get("server") != client.server_key or client.get_project(pid) is None:
        title = f"{review_title(ws)} (review)"
        config = label_config_xml(load_ontology(ws.ontology_path))
        pid = client.create_project(
            title,
            config,
            description="Sentences whose annotators disagree. Each version is a prediction: "
            "pick one, correct it, submit.",
        )
        pushed = set()
        report.created = True
    report.project_id = int(pid)
    report.url = f"{client.url}/projects/{pid}/data"
    context = review_context(ws, todo)
    for lo in range(0, len(todo), REVIEW_BATCH):
        batch = todo[lo : lo + REVIEW_BATCH]
        tasks = [review_task(c, *context.get(c.sentence_id, (None, None, None))) for c in batch]
        client.import_tasks(pid, tasks)
        pushed.update(review_key(c) for c in batch)
        report.sent += len(batch)
        # Recorded after every batch: an interrupted push resumes without duplicates.
        ws.write_state(
            REVIEW_STATE,
            {"project_id": pid, "server": client.server_key, "url": f"{client.url}/projects/{pid}",
             "pushed": sorted(pushed)},
        )  # fmt: skip
    return report


def review_project_id(ws: Workspace) -> int:
    state = ws.read_state(REVIEW_STATE)
    if not state.get("project_id"):
        raise LabelStudioError(
            "This workspace has no review project yet.", hint="Run `corpus review push` first."
        )
    return int(state["project_id"])
