"""The Typer app, shared options and console helpers used by every command module."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from typer._click.globals import get_current_context  # typer bundles its own click

from corpus.errors import CorpusError
from corpus.workspace import Workspace

if TYPE_CHECKING:
    from corpus.runner import Engine

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
    ws.check_data()  # remote data: credentials, endpoint and bucket, in one line if wrong
    if lock:
        from corpus.lock import remove_stale_staging, remove_stale_temps, workspace_lock

        held = workspace_lock(ws.state_dir, lock)
        # The running command's context releases the lock when the command ends, however it ends.
        ctx = get_current_context(silent=True)
        if ctx is None:
            raise RuntimeError("open_workspace(lock=...) outside a command")
        ctx.with_resource(held)
        remove_stale_temps(ws.data_dir, ws.quarantine_dir, ws.state_dir, ws.root)
        remove_stale_staging(ws.data_dir, ws.state_dir)
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


# --- where a stage's batches run (corpus.runner) ----------------------------------------------

EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        help='Where batches run: "local" (a process pool on this machine) or "ray" (Ray Data: '
        "a cluster at --ray-address / RAY_ADDRESS, else a local Ray; needs corpus\\[ray]).",
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        "-j",
        min=1,
        help="Worker processes for --engine local (default: all cores); the output is the "
        "same whatever the number. With --engine ray: model actors (default: the cluster's CPUs).",
        show_default=False,
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="Ray cluster to join with --engine ray: the head's HOST:PORT, as `ray start "
        "--head` prints it, or auto. Default: RAY_ADDRESS, else a local Ray.",
        show_default=False,
    ),
]


def make_engine(engine: str, workers: int | None, ray_address: str | None) -> Engine:
    """The runner's Engine from the CLI options (a clear error for an unknown engine)."""
    from corpus.runner import Engine  # imports pyarrow: kept out of `corpus --help`

    if ray_address and engine != "ray":
        raise CorpusError("--ray-address only applies with --engine ray.")
    return Engine(engine, workers, ray_address)


ENGINE_OPTIONS: Any = object()  # the default of a command's `engine` parameter: see engine_options
_ENGINE_PARAMS = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=option)
    for name, default, option in (
        ("engine", "local", EngineOpt),
        ("workers", None, WorkersOpt),
        ("ray_address", None, RayAddressOpt),
    )
]


def engine_options(command: Callable[..., None]) -> Callable[..., None]:
    """Decorator (under `@app.command`) for every command whose batches run on `corpus.runner`.

    The command declares `engine: Engine = ENGINE_OPTIONS`; on the command line that parameter
    becomes `--engine`, `--workers/-j` and `--ray-address` (at its place in `--help`), and the
    command is called with the `Engine` they make (a clear error for a bad combination, before
    the command does anything). One place, so every stage takes the same options.
    """
    sig = inspect.signature(command)
    if getattr(sig.parameters.get("engine"), "default", None) is not ENGINE_OPTIONS:
        raise TypeError(f"{command.__name__} needs a parameter `engine: Engine = ENGINE_OPTIONS`")

    # Typer reads the wrapper's signature and annotations, evaluated (the modules use
    # `from __future__ import annotations`). `Engine` itself is never evaluated: importing the
    # runner (pyarrow) would slow down `corpus --help`.
    def others() -> None: ...

    others.__annotations__ = {
        k: v for k, v in command.__annotations__.items() if k not in ("engine", "return")
    }
    hints = typing.get_type_hints(others, globalns=command.__globals__, include_extras=True)
    params: list[inspect.Parameter] = []
    for p in sig.parameters.values():
        if p.name == "engine":
            params.extend(_ENGINE_PARAMS)
        else:  # keyword-only, as Typer passes them: any order of defaults is then valid
            kw = inspect.Parameter.KEYWORD_ONLY
            params.append(p.replace(annotation=hints.get(p.name, p.annotation), kind=kw))

    @functools.wraps(command)
    def run(**kwargs: Any) -> None:
        eng = make_engine(kwargs.pop("engine"), kwargs.pop("workers"), kwargs.pop("ray_address"))
        return command(**kwargs, engine=eng)

    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params}
    return run
