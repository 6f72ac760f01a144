"""`corpus init` and `corpus status`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from corpus.cli.app import WorkspaceOpt, app, console, open_workspace
from corpus.errors import CorpusError
from corpus.workspace import Workspace

# The stages that set bad rows aside in data/quarantine/<stage>.parquet.
QUARANTINE_STAGES = frozenset({"ingest", "prelabel", "push", "pull"})


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new workspace.")] = Path("."),
    name: Annotated[str | None, typer.Option(help="Workspace name (default: folder name).")] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Where the stage files live: a folder (default: data/ in the workspace) or a "
            "URI on any fsspec filesystem, e.g. s3://bucket/prefix (credentials from the "
            "environment). Saved as `data` under \\[workspace] in corpus.toml.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create a workspace: corpus.toml, data/, releases/ and an editable ontology copy.

    Example: corpus init my-corpus --data s3://my-bucket/corpora/syria
    """
    ws = Workspace.init(directory, name=name, data=data)
    console.print(f"Workspace ready at [bold]{escape(str(ws.root))}[/] (config: corpus.toml)")
    if ws.data_location != "data":
        console.print(f"data: {escape(str(ws.data_dir))}")


def workspace_status(ws: Workspace) -> dict:
    """Counts for every stage present in the workspace (also used by tests and scripts).

    A file that cannot be read counts as None (shown as "unreadable").
    """

    def count_rows(path: Path) -> int | None:
        # From the footer, without pyarrow: importing it would cost more than the whole command.
        from corpus.footer import parquet_num_rows

        try:
            return parquet_num_rows(path)
        except (ValueError, OSError):
            pass
        from corpus.io import count_rows as arrow_count

        try:
            return arrow_count(path)
        except Exception:  # noqa: BLE001 - a damaged file is a finding of status, not a crash
            return None

    out: dict = {"workspace": str(ws.root), "stages": {}}
    if ws.data_remote:
        out["data"] = str(ws.data_dir)
    for stage, path in [
        ("articles", ws.articles_path),
        ("sentences", ws.sentences_path),
        ("predictions", ws.predictions_path),
        ("annotations", ws.annotations_path),
    ]:
        if path.exists():
            out["stages"][stage] = count_rows(path)
    if ws.quarantine_dir.exists():
        q = {p.stem: count_rows(p) for p in sorted(ws.quarantine_dir.glob("*.parquet"))}
        if q:
            out["quarantine"] = q
    project = ws.read_state("project")
    if project:
        out["label_studio_project"] = {k: project[k] for k in ("project_id", "url") if k in project}
    if ws.releases_dir.exists():
        out["releases"] = sorted(
            p.name for p in ws.releases_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
        )
    return out


@app.command()
def status(
    workspace: WorkspaceOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show row counts for every stage present in the workspace.

    Example: corpus status
    """
    ws = open_workspace(workspace)
    info = workspace_status(ws)
    if as_json:
        console.print_json(json.dumps(info, ensure_ascii=False))
        return
    console.print(Text(f"workspace {ws.root}"), soft_wrap=True)
    if "data" in info:
        console.print(Text(f"data {info['data']}"), soft_wrap=True)
    table = Table()
    table.add_column("stage")
    table.add_column("rows", justify="right")

    def shown(n: int | None) -> str:
        return "unreadable" if n is None else f"{n:,}"

    for stage, n in info["stages"].items():
        table.add_row(stage, shown(n))
    for stage, n in info.get("quarantine", {}).items():
        table.add_row(f"quarantine/{stage}", shown(n))
    if not info["stages"]:
        table.add_row("(nothing yet)", "run `corpus ingest SOURCE`")
    console.print(table)
    if "label_studio_project" in info:
        p = info["label_studio_project"]
        console.print(Text(f"Label Studio project {p.get('project_id')} at {p.get('url')}"))
    if info.get("releases"):
        console.print(Text("releases: " + ", ".join(info["releases"])))


@app.command()
def quarantine(
    stage: Annotated[str, typer.Argument(help="Stage: ingest, prelabel, pull, ...")] = "ingest",
    workspace: WorkspaceOpt = None,
    limit: Annotated[int, typer.Option(help="Rows to show (0: all).")] = 20,
) -> None:
    """Show quarantined rows of a stage with file, location and reason.

    Example: corpus quarantine ingest --limit 50
    """
    from corpus.io import read_table

    ws = open_workspace(workspace)
    path = ws.quarantine_dir / f"{stage}.parquet"
    known = sorted(QUARANTINE_STAGES | {p.stem for p in ws.quarantine_dir.glob("*.parquet")})
    if stage not in known:
        raise CorpusError(f"No stage {stage!r} sets rows aside.", f"Stages: {', '.join(known)}.")
    if not path.exists():
        console.print(f"No quarantined rows for {stage}.")
        return
    rows = read_table(path).to_pylist()
    table = Table(title=Text(f"quarantine/{stage}: {len(rows):,} row(s) in {path}"))
    for col in ("source", "location", "reason"):
        table.add_column(col, overflow="fold")
    for r in rows[: limit or None]:
        # Cells are data (file names, raw text): never read as rich markup.
        table.add_row(*(Text(str(r[c] or "")) for c in ("source", "location", "reason")))
    console.print(table)
