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


def _pull_project(ws: Workspace, project_id: int, **kw: Any) -> Any:
    """`corpus.pull.review.pull_project` with a spinner while exporting and a progress bar."""
    from corpus.pull.review import pull_project

    progress = progress_bar("tasks")
    with progress:
        bar = progress.add_task("pulling", total=None)
        return pull_project(
            ws,
            project_id,
            exporting=lambda pid: console_err.status(f"Label Studio is exporting project {pid}..."),
            on_total=lambda total: progress.update(bar, total=total),
            progress=lambda n: progress.advance(bar, n),
            **kw,
        )


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


def _project_id(ws: Workspace) -> int:
    from corpus.pull.review import workspace_project_id

    return workspace_project_id(ws)


def _annotations(ws: Workspace):
    from corpus.pull.review import read_annotations

    return read_annotations(ws)


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


@review_app.command("push")
def review_push(workspace: WorkspaceOpt = None) -> None:
    """Send conflicting sentences to the review project, each version as a prediction.

    One review task per sentence whose annotators disagree, showing every annotator's version
    as a prediction to pick, correct and submit. A conflict is sent once; an edit made after it
    was sent makes it a new conflict.

    Example: corpus review push
    """
    from corpus.pull.review import review_push as push_conflicts

    ws = open_workspace(workspace, lock="review push")
    report = push_conflicts(ws)
    console.print(
        f"{report.conflicts:,} conflicting sentence(s); {report.already:,} already sent for review"
    )
    if not report.sent:
        return
    if report.created:
        console.print(f"created review project {report.project_id}")
    console.print(f"sent {report.sent:,} review task(s) to {escape(report.url)}")
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
    from corpus.pull.adjudication import find_conflicts
    from corpus.pull.review import review_project_id

    ws = open_workspace(workspace, lock="review pull")
    report = _pull_project(
        ws, review_project_id(ws), review=True, full=full, export_file=None, keep_export=False
    )
    _print_pull(report, "review pull")
    remaining = len(find_conflicts(_annotations(ws)))
    console.print(
        f"{report.kept - report.cancelled:,} review decision(s) in the workspace; "
        f"{remaining:,} conflicting sentence(s) still without a decision"
    )
    _write_json(json_path, {**report.as_dict(), "conflicts": remaining})
