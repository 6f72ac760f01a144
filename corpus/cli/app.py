"""The Typer app, shared options and console helpers used by every command module."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from typer._click.globals import get_current_context  # typer bundles its own click

from corpus.workspace import Workspace

app = typer.Typer(
    name="corpus",
    help="Build annotated Arabic event-extraction corpora: ingest, segment, pre-label, "
    "annotate in Label Studio, pull, publish.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False)
console_err = Console(stderr=True, highlight=False)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: found from the current folder upward).",
        envvar="CORPUS_WORKSPACE",
        show_default=False,
    ),
]


def open_workspace(path: Path | None, *, lock: str | None = None) -> Workspace:
    """The workspace at `path`, or the one found from the current folder upward.

    `lock` names a command that writes to the workspace: it then holds the workspace lock until
    the command returns (a second writer gets "workspace busy"), and temporary files left by
    killed commands are cleared.
    """
    ws = (
        Workspace.load(path.resolve())
        if path and (path / "corpus.toml").exists()
        else (Workspace.find(path))
    )
    if lock:
        from corpus.lock import remove_stale_temps, workspace_lock

        held = workspace_lock(ws.state_dir, lock)
        # The running command's context releases the lock when the command ends, however it ends.
        ctx = get_current_context(silent=True)
        if ctx is None:
            raise RuntimeError("open_workspace(lock=...) outside a command")
        ctx.with_resource(held)
        remove_stale_temps(ws.data_dir, ws.quarantine_dir, ws.state_dir, ws.root)
    return ws


def progress_bar(unit: str | None = None, *, out: Console = console_err) -> Progress:
    """A transient rich progress bar on `out`, off when `out` is not a terminal.

    Shows each task's description, the bar, "done/total UNIT" (a percentage when `unit` is None,
    for totals that are not counts, such as bytes read) and the elapsed time.
    """
    amount = (
        (MofNCompleteColumn(), TextColumn(unit))
        if unit
        else (TextColumn("{task.percentage:>3.0f}%"),)
    )
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        *amount,
        TimeElapsedColumn(),
        console=out,
        transient=True,
        disable=not out.is_terminal,
    )
