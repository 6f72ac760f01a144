"""`corpus pull`, `corpus agreement`, `corpus quality` and `corpus review push|pull`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from corpus.cli.app import WorkspaceOpt, app, console, console_err, open_workspace, progress_bar
from corpus.workspace import Workspace

JsonOpt = Annotated[
    Path | None,
    typer.Option("--json", help="Also write the report as JSON to this file.", show_default=False),
]


def _exports_dir(ws: Workspace) -> Path:
    # Exports hold annotator data: kept in the private state folder, removed after a pull.
    d = ws.state_dir / "exports"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _pull_project(
    ws: Workspace,
    project_id: int,
    *,
    review: bool,
    full: bool,
    export_file: Path | None,
    keep_export: bool,
    client: Any = None,
) -> Any:
    """Fetch (or take) an export snapshot of `project_id` and pull it into the workspace."""
    from corpus.pull.parse import pull_snapshot

    snapshot_id: Any = None
    total = None
    versions = None
    path = export_file
    if path is None:
        from corpus.labelstudio.client import LabelStudio

        client = client or LabelStudio.connect(ws)
        path = _exports_dir(ws) / f"project-{project_id}.json"
        with console_err.status(f"Label Studio is exporting project {project_id}..."):
            info = client.export_json(project_id, path, only_annotated=True)
            if review:  # which version each decision started from
                versions = client.prediction_versions(project_id)
        snapshot_id, total = info.get("snapshot_id"), info.get("task_count")
    progress = progress_bar("tasks")
    try:
        with progress:
            bar = progress.add_task("pulling", total=total)
            report = pull_snapshot(
                ws,
                Path(path),
                project_id,
                snapshot_id=snapshot_id,
                review=review,
                full=full,
                prediction_versions=versions,
                progress=lambda n: progress.advance(bar, n),
            )
    finally:
        if export_file is None and not keep_export:
            Path(path).unlink(missing_ok=True)
    return report


def _print_pull(report: Any, what: str) -> None:
    mode = "full re-validation" if report.full else "incremental"
    table = Table(title=f"{what} (project {report.project_id}, {mode})")
    table.add_column("")
    table.add_column("count", justify="right")
    for label, n in [
        ("tasks in snapshot", report.tasks),
        ("annotations in snapshot", report.annotations),
        ("added", report.added),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
        ("deleted in Label Studio (removed)", report.deleted),
        ("quarantined", report.quarantined),
        ("kept (of which skipped/cancelled)", f"{report.kept:,} ({report.cancelled:,})"),
    ]:
        table.add_row(label, f"{n:,}" if isinstance(n, int) else n)
    console.print(table)
    if report.deleted_ids:
        shown = ", ".join(map(str, report.deleted_ids[:10]))
        console.print(f"removed annotations: {shown}" + (", ..." if report.deleted > 10 else ""))
    if report.quarantined:
        console.print(
            f"[yellow]{report.quarantined:,} annotation(s) quarantined[/] "
            f"in {escape(str(report.quarantine_path))}; first reasons:"
        )
        for reason in report.quarantine_reasons[:10]:
            # One line per reason (no wrapping, no markup): easy to grep and copy.
            console.print(f"  - {reason}", highlight=False, markup=False, soft_wrap=True)
        console.print("Fix them in Label Studio (or the sentences) and run `corpus pull` again.")


@app.command()
def pull(
    workspace: WorkspaceOpt = None,
    full: Annotated[
        bool,
        typer.Option("--full", help="Re-parse and re-validate every annotation, not only changes."),
    ] = False,
    from_export: Annotated[
        Path | None,
        typer.Option(
            "--from-export",
            exists=True,
            dir_okay=False,
            help="Pull this full-JSON export file instead of asking the server for a snapshot.",
            show_default=False,
        ),
    ] = None,
    project: Annotated[
        int | None,
        typer.Option(
            "--project",
            help="Label Studio project id (default: the one `corpus project create` made).",
            show_default=False,
        ),
    ] = None,
    keep_export: Annotated[
        bool, typer.Option("--keep-export", help="Keep the downloaded export in .corpus/exports/.")
    ] = False,
    json_path: JsonOpt = None,
) -> None:
    """Fetch finished annotations into data/annotations.parquet, validated and incremental.

    Takes a full-JSON export snapshot of the project, checks every region against the sentence
    text and the ontology, quarantines what fails (data/quarantine/pull.parquet, with reasons),
    and reports what was added, updated, deleted in Label Studio, or quarantined.

    Examples: corpus pull | corpus pull --full --json pull-report.json |
    corpus pull --from-export export.json --project 3
    """
    from corpus.pull.adjudication import adjudicate, find_conflicts, workspace_policy

    ws = open_workspace(workspace, lock="pull")
    client = None
    if project is not None:
        project_id = project
    elif from_export is not None:
        project_id = _project_id(ws)
    else:
        from corpus.labelstudio.client import LabelStudio

        _project_id(ws)  # no project: say so before looking for a server
        client = LabelStudio.connect(ws)
        project_id = client.project_id  # also checks it is on this server
    report = _pull_project(
        ws,
        project_id,
        review=False,
        full=full,
        export_file=from_export,
        keep_export=keep_export,
        client=client,
    )
    _print_pull(report, "pull")
    table = _annotations(ws)
    policy, reviewer = workspace_policy(ws)
    ready = adjudicate(table, policy=policy, reviewer=reviewer).num_rows
    conflicts = len(find_conflicts(table))
    console.print(
        f"{table.num_rows:,} annotations in {escape(str(ws.annotations_path))}; {ready:,} sentences ready for "
        f"release (adjudication policy {policy!r})"
        + (f"; {conflicts:,} conflicting (see `corpus review push`)" if conflicts else "")
    )
    _write_json(json_path, {**report.as_dict(), "ready": ready, "conflicts": conflicts})


def review_title(ws: Workspace) -> str:
    """The main project's title (a custom `--title` included): the review project is named after
    it."""
    return (
        ws.read_state("project").get("title")
        or ws.section("label_studio").get("project_title")
        or "Arabic events"
    )


def _project_id(ws: Workspace) -> int:
    from corpus.errors import LabelStudioError

    project = ws.read_state("project")
    if not project.get("project_id"):
        raise LabelStudioError(
            "This workspace has no Label Studio project yet.",
            hint="Run `corpus project create` and `corpus project push` first, "
            "or pass --project ID.",
        )
    return int(project["project_id"])


def _annotations(ws: Workspace):
    """The pulled annotations; a damaged file is an error naming it."""
    # pyarrow is imported by the commands that need it: `corpus --help` stays fast.
    import pyarrow as pa
    import pyarrow.parquet as pq

    from corpus.errors import CorpusError
    from corpus.io import require
    from corpus.schemas import ANNOTATIONS

    path = require(ws.annotations_path, "corpus pull")
    try:
        return pq.read_table(path, schema=ANNOTATIONS)
    except (pa.ArrowException, OSError) as e:
        raise CorpusError(
            f"{path} is not a readable annotations file ({e}).",
            "Re-create it from Label Studio with `corpus pull --full`.",
        ) from e


def _write_json(path: Path | None, report: dict) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        console.print(f"report written to {escape(str(path))}")


def _fmt(x: Any) -> str:
    if x is None:
        return "n/a"
    return f"{x:.3f}" if isinstance(x, float) else str(x)


@app.command()
def agreement(workspace: WorkspaceOpt = None, json_path: JsonOpt = None) -> None:
    """Inter-annotator agreement on the pulled annotations.

    Span F1 per label (exact and overlapping), Cohen's kappa per annotator pair, Fleiss' kappa
    and Krippendorff's alpha on sentence choices and trigger types, and each annotator's volume
    and speed. Only sentences annotated by two or more people count towards agreement.

    Examples: corpus agreement | corpus agreement --json reports/agreement.json
    """
    from corpus.pull.agreement import agreement_report

    ws = open_workspace(workspace)
    report = agreement_report(_annotations(ws))
    console.print(
        f"{report['sentences_annotated']:,} sentences annotated, "
        f"{report['sentences_multiply_annotated']:,} by two or more annotators"
    )
    spans = Table(title="span agreement (pairwise F1)")
    for col in ("kind", "label", "F1 exact", "F1 overlap", "spans"):
        spans.add_column(col, justify="left" if col in ("kind", "label") else "right")
    for x in report["span_f1"]["labels"]:
        spans.add_row(x["kind"], x["label"], _fmt(x["f1_exact"]), _fmt(x["f1_overlap"]),
                      str(x["spans"]))  # fmt: skip
    o = report["span_f1"]["overall"]
    spans.add_row("all", "", _fmt(o["f1_exact"]), _fmt(o["f1_overlap"]), str(o["spans"]))
    console.print(spans)

    coef = Table(title="categorical agreement")
    for col in ("ratings", "items", "Fleiss' kappa", "Krippendorff's alpha"):
        coef.add_column(col, justify="left" if col == "ratings" else "right")
    for name, key in (("sentence choice", "choice"), ("trigger type", "trigger_type")):
        c = report[key]
        coef.add_row(name, str(c["items"]), _fmt(c["fleiss_kappa"]), _fmt(c["krippendorff_alpha"]))
    console.print(coef)

    if report["pairs"]:
        pairs = Table(title="annotator pairs")
        for col in ("a", "b", "sentences", "kappa choice", "kappa trigger", "F1 exact"):
            pairs.add_column(col, justify="left" if col in ("a", "b") else "right")
        for p in report["pairs"]:
            a, b = p["annotators"]
            pairs.add_row(a, b, str(p["sentences"]), _fmt(p["choice_cohen_kappa"]),
                          _fmt(p["trigger_cohen_kappa"]), _fmt(p["span_f1_exact"]))  # fmt: skip
        console.print(pairs)

    people = Table(title="annotators (volume and speed)")
    for col in ("annotator", "annotations", "skipped", "sentences", "median s", "per hour"):
        people.add_column(col, justify="left" if col == "annotator" else "right")
    for s in report["annotators"]:
        people.add_row(s["annotator"], str(s["annotations"]), str(s["skipped"]),
                       str(s["sentences"]), _fmt(s["median_seconds"]), _fmt(s["per_hour"]))  # fmt: skip
    console.print(people)
    _write_json(json_path, report)


@app.command()
def quality(workspace: WorkspaceOpt = None, json_path: JsonOpt = None) -> None:
    """Pre-label quality: per label, predictions accepted, changed, deleted; spans added.

    Whether pre-labelling saves work: how many predicted spans annotators kept unchanged, fixed
    (boundary or label), or deleted, and how many spans they had to draw themselves.

    Examples: corpus quality | corpus quality --json reports/quality.json
    """
    from corpus.pull.quality import quality_report

    ws = open_workspace(workspace)
    annotations = _annotations(ws)
    from corpus.io import require

    report = quality_report(annotations, require(ws.predictions_path, "corpus prelabel"))
    console.print(f"{report['annotations_compared']:,} annotations compared ({report['basis']})")
    table = Table(title="pre-label quality")
    cols = ("kind", "label", "predicted", "accepted", "changed", "deleted", "added", "accepted %")
    for col in cols:
        table.add_column(col, justify="left" if col in ("kind", "label") else "right")

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f}"

    for x in report["labels"] + [dict(report["overall"], kind="all", label="")]:
        table.add_row(x["kind"], x["label"], *(str(x[k]) for k in cols[2:7]), pct(x["accept_rate"]))
    console.print(table)
    _write_json(json_path, report)


# --- review: conflicting sentences back to Label Studio ------------------------------------------

review_app = typer.Typer(
    help="Send sentences whose annotators disagree to a review project, and pull the decisions.",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")
REVIEW_STATE = "review"
REVIEW_BATCH = 500


def _review_context(ws: Workspace, conflicts: list) -> dict[str, tuple[str | None, ...]]:
    """sentence_id -> (title, context_before, context_after) for the conflicting sentences."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as pads

    from corpus.labelstudio.tasks import neighbours

    articles = sorted({c.rows[0]["article_id"] for c in conflicts if c.rows[0]["article_id"]})
    if not articles or not ws.sentences_path.exists():
        return {}
    wanted = pa.array(articles, pa.string())
    sents = pads.dataset(ws.sentences_path).to_table(
        columns=["sentence_id", "article_id", "index", "text"],
        filter=pc.field("article_id").isin(wanted),
    )
    before, after = neighbours(sents)
    texts = sents.column("text").to_pylist()
    titles: dict[str, str] = {}
    if ws.articles_path.exists():
        arts = pads.dataset(ws.articles_path).to_table(
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


@review_app.command("push")
def review_push(workspace: WorkspaceOpt = None) -> None:
    """Send conflicting sentences to the review project, each version as a prediction.

    One review task per sentence whose annotators disagree, showing every annotator's version
    as a prediction to pick, correct and submit. A conflict is sent once; an edit made after it
    was sent makes it a new conflict.

    Example: corpus review push
    """
    from corpus.labelstudio.client import LabelStudio
    from corpus.ontology import label_config_xml, load_ontology
    from corpus.pull.adjudication import find_conflicts, review_key, review_task

    ws = open_workspace(workspace, lock="review push")
    conflicts = find_conflicts(_annotations(ws))
    state = ws.read_state(REVIEW_STATE)
    pushed = set(state.get("pushed", []))
    todo = [c for c in conflicts if review_key(c) not in pushed]
    console.print(
        f"{len(conflicts):,} conflicting sentence(s); {len(conflicts) - len(todo):,} already "
        f"sent for review"
    )
    if not todo:
        return
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
        console.print(f"created review project {pid}")
    context = _review_context(ws, todo)
    sent = 0
    for lo in range(0, len(todo), REVIEW_BATCH):
        batch = todo[lo : lo + REVIEW_BATCH]
        tasks = [review_task(c, *context.get(c.sentence_id, (None, None, None))) for c in batch]
        client.import_tasks(pid, tasks)
        pushed.update(review_key(c) for c in batch)
        sent += len(batch)
        # Recorded after every batch: an interrupted push resumes without duplicates.
        ws.write_state(
            REVIEW_STATE,
            {"project_id": pid, "server": client.server_key, "url": f"{client.url}/projects/{pid}",
             "pushed": sorted(pushed)},
        )  # fmt: skip
    console.print(f"sent {sent:,} review task(s) to {escape(str(client.url))}/projects/{pid}/data")
    console.print("When reviewers have submitted their decisions, run `corpus review pull`.")


@review_app.command("pull")
def review_pull(
    workspace: WorkspaceOpt = None,
    full: Annotated[bool, typer.Option("--full", help="Re-parse every decision.")] = False,
    json_path: JsonOpt = None,
) -> None:
    """Pull the reviewers' decisions; they win adjudication under every policy.

    Decisions are stored in data/annotations.parquet with the review project's id and
    `prediction_model_version` "review:<version picked>" ("review:manual" when drawn afresh).

    Examples: corpus review pull | corpus review pull --json review-report.json
    """
    from corpus.errors import LabelStudioError
    from corpus.pull.adjudication import find_conflicts

    ws = open_workspace(workspace, lock="review pull")
    state = ws.read_state(REVIEW_STATE)
    if not state.get("project_id"):
        raise LabelStudioError(
            "This workspace has no review project yet.", hint="Run `corpus review push` first."
        )
    report = _pull_project(
        ws, int(state["project_id"]), review=True, full=full, export_file=None, keep_export=False
    )
    _print_pull(report, "review pull")
    remaining = len(find_conflicts(_annotations(ws)))
    console.print(
        f"{report.kept - report.cancelled:,} review decision(s) in the workspace; "
        f"{remaining:,} conflicting sentence(s) still without a decision"
    )
    _write_json(json_path, {**report.as_dict(), "conflicts": remaining})
