"""`corpus server start|stop|status|env` and `corpus project create|push`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from corpus.cli.app import WorkspaceOpt, app, console, console_err, open_workspace, progress_bar
from corpus.errors import LabelStudioError

server_app = typer.Typer(
    help="The embedded Label Studio server (127.0.0.1, data kept in the workspace).",
    no_args_is_help=True,
)
project_app = typer.Typer(
    help="The workspace's Label Studio project: create it, push tasks with pre-labels.",
    no_args_is_help=True,
)
app.add_typer(server_app, name="server")
app.add_typer(project_app, name="project")


# --- corpus server ------------------------------------------------------------------------------


@server_app.command("start")
def server_start(
    workspace: WorkspaceOpt = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the API (a first start migrates).")
    ] = 300.0,
) -> None:
    """Start the embedded Label Studio (installing it on first use) and wait until it answers.

    Its data (database with every annotation) lives in .corpus/label-studio/, its log in
    .corpus/label-studio.log. The login is shown once, at the first start.

    Example: corpus server start
    """
    from corpus.labelstudio import server

    ws = open_workspace(workspace, lock="server start")
    with console_err.status("Starting Label Studio (a first start takes about a minute)..."):
        info, how = server.start(ws, timeout=timeout, echo=console_err.print)
    from corpus.labelstudio.client import refresh_project_url

    refresh_project_url(ws, info.url)  # the port changes when the last one was taken
    already = " (was already running)" if how == "running" else ""
    console.print(
        f"Label Studio {info.version} running at [bold]{escape(str(info.url))}[/] (pid {info.pid}){already}"
    )
    if how == "created":
        console.print(
            f"Log in with [bold]{info.username}[/] / [bold]{info.password}[/]\n"
            "(shown once; kept owner-only in .corpus/server.json, "
            "`corpus server status --login` shows it again)"
        )
    console.print('Scripts and the SDK: eval "$(corpus server env)"')


@server_app.command("stop")
def server_stop(workspace: WorkspaceOpt = None) -> None:
    """Stop the embedded Label Studio started for this workspace (only that process).

    Example: corpus server stop
    """
    from corpus.labelstudio import server

    ws = open_workspace(workspace, lock="server stop")
    if server.stop(ws):
        console.print("Label Studio stopped.")
    else:
        console.print("Label Studio was not running.")


@server_app.command("status")
def server_status(
    workspace: WorkspaceOpt = None,
    login: Annotated[bool, typer.Option("--login", help="Also show the login (password).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show whether the embedded server runs, its health and version. Exit code 1 when down.

    Example: corpus server status --login
    """
    from corpus.labelstudio import server

    ws = open_workspace(workspace)
    info = server.status(ws)
    if login and (rec := server.read_info(ws)):
        info["password"] = rec.password
    if as_json:
        console.print_json(json.dumps(info))
    elif not info.get("url"):
        console.print("Label Studio has never been started here: run `corpus server start`.")
    else:
        table = Table(show_header=False, title="embedded Label Studio")
        state = "running" if info["running"] else "stopped"
        if info["running"]:
            state += ", healthy" if info["healthy"] else ", NOT answering"
        rows = [("state", state), ("url", info["url"]), ("version", info.get("version") or "-"),
                ("pid", str(info.get("pid") or "-")), ("data", info["data_dir"]),
                ("log", info["log"]), ("username", info["username"])]  # fmt: skip
        if login:
            rows.append(("password", info.get("password", "")))
        for k, v in rows:
            table.add_row(k, v)
        console.print(table)
    if not (info.get("running") and info.get("healthy")):
        raise typer.Exit(1)


@server_app.command("env")
def server_env(
    workspace: WorkspaceOpt = None,
    export: Annotated[
        bool,
        typer.Option(
            "--export/--no-export",
            help="Print `export KEY=value` lines (the default), so `eval` passes them on to "
            "child processes; --no-export prints bare KEY=value lines.",
        ),
    ] = True,
) -> None:
    """Print `export LABEL_STUDIO_URL=...` and `export LABEL_STUDIO_API_KEY=...` for the
    embedded server.

    Example: eval "$(corpus server env)"; python my_script.py
    """
    from corpus.labelstudio import server

    ws = open_workspace(workspace)
    info = server.read_info(ws)
    if info is None or not server.is_our_server(info.pid, Path(info.data_dir)):
        raise LabelStudioError(
            "The embedded Label Studio is not running.", hint="Run `corpus server start` first."
        )
    prefix = "export " if export else ""
    print(f"{prefix}LABEL_STUDIO_URL={shlex.quote(info.url)}")
    print(f"{prefix}LABEL_STUDIO_API_KEY={shlex.quote(info.api_key)}")


# --- corpus project -----------------------------------------------------------------------------


@project_app.command("create")
def project_create(
    workspace: WorkspaceOpt = None,
    title: Annotated[
        str | None, typer.Option(help="Project title (default: corpus.toml project_title).")
    ] = None,
) -> None:
    """Create the Label Studio project from the workspace ontology, or update/reuse it.

    The labeling config is generated from the ontology and validated by the server; the
    project id is recorded in the workspace. Run again after editing the ontology: the config
    is updated, unless the change drops labels that annotations still use.

    Example: corpus project create
    """
    from corpus.labelstudio.client import LabelStudio
    from corpus.labelstudio.push import ensure_project
    from corpus.ontology import guidance_html, label_config_xml, load_ontology

    ws = open_workspace(workspace, lock="project create")
    ontology = load_ontology(ws.ontology_path)
    client = LabelStudio.connect(ws)
    result = ensure_project(
        client,
        title=title,  # None keeps an existing project's title
        default_title=ws.section("label_studio").get("project_title") or "Arabic events",
        label_config=label_config_xml(ontology),
        description=ontology.description,
        instructions=guidance_html(ontology),
        ontology_hash=ontology.hash,
    )
    verb = {
        "created": "Created",
        "updated": "Updated the labeling config of",
        "reused": "Reusing",
    }[result.action]
    console.print(
        f"{verb} project {result.project_id} ({ontology.name}): [bold]{escape(str(result.url))}[/]"
    )
    if result.note and result.action == "created" and "no longer" in result.note:
        console_err.print(f"[yellow]note:[/] {result.note}")


@project_app.command("push")
def project_push(
    workspace: WorkspaceOpt = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Send at most the first N (events first).")
    ] = None,
    sample: Annotated[
        int | None, typer.Option(min=1, help="Send a random sample of N sentences.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of --sample (same seed, same sample).")] = 0,
    only_with_events: Annotated[
        bool, typer.Option("--only-with-events", help="Only sentences with a predicted trigger.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, max=50_000, help="Tasks per import request.")
    ] = 2000,
    select: Annotated[
        str | None,
        typer.Option(
            "--select",
            help="Choose what to annotate next among sentences not yet in the project: "
            "uncertain (the model's least sure first), diverse (the same, spread across "
            "article groups and near-duplicates) or random. Use with --limit.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Trained model for --select uncertain/diverse (default: the model:NAME "
            'pre-labeler in corpus.toml, else "default").',
            show_default=False,
        ),
    ] = None,
) -> None:
    """Send one task per sentence, with pre-labels as predictions, to the project.

    Idempotent and resumable: sentences already in the project are never sent again (also
    after an interrupted push). Sentences with predicted events go first; with --select, the
    sentences a trained model is least sure of go first instead.

    Examples: corpus project push; corpus project push --sample 500 --seed 7 --only-with-events;
    corpus project push --select uncertain --limit 200
    """
    from corpus.labelstudio.client import LabelStudio
    from corpus.labelstudio.push import push_workspace
    from corpus.labelstudio.tasks import Selection

    ws = open_workspace(workspace, lock="project push")
    ranker = None
    if select is not None:
        from corpus.errors import CorpusError
        from corpus.train.select import make_ranker

        if sample is not None:
            raise CorpusError(
                "--select and --sample both choose sentences: use one.",
                "For a random choice use --select random --limit N.",
            )
        ranker = make_ranker(ws, select, model, seed)
    client = LabelStudio.connect(ws)
    selection = Selection(
        limit=limit, sample=sample, seed=seed, only_with_events=only_with_events, ranker=ranker
    )
    progress = progress_bar("tasks")
    with progress:
        bar = progress.add_task("pushing", total=None)
        report = push_workspace(
            client,
            ws,
            selection,
            batch_size=batch_size,
            on_plan=lambda plan: progress.update(bar, total=plan.to_send),
            on_batch=lambda batch: progress.advance(bar, len(batch.tasks)),
        )
    rate = report.sent / report.seconds if report.seconds and report.sent else 0
    console.print(
        f"Project {report.project_id}: {report.total:,} sentences in the workspace, "
        f"{report.selected:,} selected, {report.already:,} already in the project, "
        f"[bold]{report.sent:,} sent[/] ({report.with_predictions:,} with pre-labels, "
        f"{report.with_events:,} with predicted events) in {report.seconds:.1f} s"
        + (f" ({rate:,.0f} tasks/s)" if rate else "")
    )
    if report.rejected_spans:
        console_err.print(
            f"[yellow]warning:[/] {report.rejected_spans:,} predicted spans failed validation "
            f"and were left out: see {escape(str(ws.quarantine_dir / 'push.parquet'))}"
        )
    if report.retries:
        console_err.print(f"note: {report.retries} import requests were retried")
    console.print(
        f"Annotate at [bold]{escape(str(client.url))}/projects/{report.project_id}/data[/]"
    )
