"""`corpus publish`, `corpus verify` and `corpus diff`: immutable dataset versions."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from corpus.cli.app import (
    ENGINE_OPTIONS,
    WorkspaceOpt,
    app,
    console,
    console_err,
    engine_options,
    open_workspace,
)
from corpus.cli.ingest_cmd import _license_option
from corpus.errors import ReleaseError

if TYPE_CHECKING:
    from corpus.runner import Engine

ToOpt = Annotated[
    str | None,
    typer.Option(
        "--to",
        help="Also copy the verified release to TARGET/VERSION: any fsspec URL (a folder, "
        "s3://bucket/prefix, gs://..., with its fsspec backend installed).",
        show_default=False,
    ),
]
HubOpt = Annotated[
    str | None,
    typer.Option(
        "--hub",
        help="Also push the verified release to the Hugging Face Hub dataset repo ORG/NAME, "
        "tagged with the version (needs huggingface_hub and HF_TOKEN).",
        show_default=False,
    ),
]


def _copy_and_push(
    path, version: str, to: str | None, hub: str | None, *, retry_hint: bool = False
) -> None:
    from corpus.publish.release import copy_release, push_to_hub

    if to:
        try:
            url = copy_release(path, to)
        except ReleaseError as e:
            if retry_hint:  # after publish only: `verify --to` is itself the retry
                e.hint = (e.hint + " " if e.hint else "") + (
                    f"The local release is complete; retry the copy with "
                    f"`corpus verify {version} --to {to}`."
                )
            raise
        console.print(f"Copied to [bold]{escape(url)}[/] (checksums verified)")
    if hub:
        url = push_to_hub(path, hub)
        console.print(f"Pushed to the Hub: [bold]{escape(str(url))}[/] (tag {version})")


@app.command()
@engine_options
def publish(
    version: Annotated[str, typer.Argument(help="Semantic version, e.g. 1.0.0 (never reused).")],
    message: Annotated[
        str, typer.Option("--message", "-m", help="What this version is; shown in the card.")
    ] = "",
    license: Annotated[
        str | None,
        typer.Option(
            "--license",
            help="The release licence (SPDX id), instead of the one derived from the sources' "
            "licences; needed when they cannot be combined (e.g. CC-BY-NC-4.0 with "
            "CC-BY-SA-4.0).",
            show_default=False,
            callback=_license_option,
        ),
    ] = None,
    baseline: Annotated[
        bool | None,
        typer.Option(
            "--baseline/--no-baseline",
            help="Train the default learned model on the train split and put its entity, "
            "trigger and argument F1 on validation and test in the card (default: [publish] "
            "baseline in corpus.toml, else on).",
            show_default=False,
        ),
    ] = None,
    to: ToOpt = None,
    hub: HubOpt = None,
    engine: Engine = ENGINE_OPTIONS,
    workspace: WorkspaceOpt = None,
) -> None:
    """Publish the adjudicated annotations as releases/VERSION/ (immutable).

    Configs sentences, tokens, events and documents as Parquet train/validation/test, a dataset
    card (README.md) and manifest.json with a sha256 for every file. Tokens, events and
    documents are built on the runner (--engine, --workers): the files are the same byte for
    byte whatever the engine and number of workers.

    Example: corpus publish 1.0.0 --message "First 5,000 sentences" --to s3://bucket/corpus
    """
    from corpus.publish.build import publish as do_publish

    ws = open_workspace(workspace, lock="publish")
    with console_err.status(f"publishing ({engine.describe()})", spinner="dots") as status:
        report = do_publish(
            ws,
            version,
            message,
            license=license,
            baseline=baseline,
            on_step=lambda s: status.update(f"{s} ({engine.describe()})"),
            engine=engine,
        )
    table = Table(title=f"release {version}")
    table.add_column("config")
    for split in ("train", "validation", "test"):
        table.add_column(split, justify="right")
    for config, counts in report.rows.items():
        table.add_row(config, *(f"{counts[s]:,}" for s in ("train", "validation", "test")))
    console.print(table)
    for kind, a in report.alignment.items():
        console.print(
            f"{kind}: {a['spans']:,} spans, {a['misaligned']:,} with an edge inside a token, "
            f"{a['overlapping'] + a['empty']:,} dropped from BIO tags "
            f"({a['overlapping']:,} overlapping, {a['empty']:,} on no token)"
        )
    if report.excluded["noise"]:
        console.print(f"left out {report.excluded['noise']:,} sentences marked noise")
    if report.changes:
        c = report.changes
        console.print(
            f"since {report.previous}: +{c['added']:,} added, -{c['removed']:,} removed, "
            f"{c['relabelled']:,} relabelled"
        )
    b = report.manifest["baseline"]
    if b["status"] == "computed":
        for split, sc in b["scores"].items():
            if "entity" in sc:
                console.print(
                    f"baseline on {split}: entity F1 {sc['entity']['f1']:.3f}, trigger F1 "
                    f"{sc['trigger']['f1']:.3f}, argument F1 {sc['argument']['f1']:.3f}"
                )
    else:
        console.print(f"baseline: not computed ({b['reason']})")
    lic = report.manifest["license"]
    console.print(f"licence: {lic['id'] or 'other'} ({lic['rule']})")
    for w in report.warnings:
        console_err.print(f"[yellow]warning:[/] {w}", highlight=False)
    console.print(f"Published [bold]{escape(str(report.path))}[/] (read-only)")
    _copy_and_push(report.path, version, to, hub, retry_hint=True)


@app.command()
def verify(
    version: Annotated[str, typer.Argument(help="A published version (or a release folder).")],
    to: ToOpt = None,
    hub: HubOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Check a release: checksums, schemas, row counts, disjoint splits.

    No file may differ from its sha256 in manifest.json, and no sentence, article or article
    group may be in two splits. With --to / --hub, the verified release is then copied or pushed
    (e.g. to retry a failed upload).

    Example: corpus verify 1.0.0
    """
    from corpus.publish.release import release_dir
    from corpus.publish.release import verify as do_verify

    path = release_dir(open_workspace(workspace) if not _is_release(version) else None, version)
    rep = do_verify(path)
    if not rep.ok:
        for p in rep.problems:
            console_err.print(f"[red]✗[/] {escape(p)}", highlight=False)
        raise ReleaseError(
            f"Release {rep.version} at {path} failed verification ({len(rep.problems)} problems).",
            "A published release must not be edited: restore it from a copy, or publish a new "
            "version.",
        )
    console.print(
        f"[green]✓[/] release {rep.version}: {rep.files} files verified at {escape(str(path))}"
    )
    _copy_and_push(path, rep.version or version, to, hub)


def _is_release(arg: str) -> bool:
    from pathlib import Path

    return (Path(arg) / "manifest.json").is_file()


@app.command()
def diff(
    old: Annotated[str, typer.Argument(help="The earlier version (or release folder).")],
    new: Annotated[str, typer.Argument(help="The later version (or release folder).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON with every id.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """What changed between two releases: sentences added, removed, relabelled; label counts.

    Example: corpus diff 1.0.0 1.1.0
    """
    from corpus.publish.release import diff as do_diff
    from corpus.publish.release import release_dir

    ws = None if _is_release(old) and _is_release(new) else open_workspace(workspace)
    rep = do_diff(release_dir(ws, old), release_dir(ws, new))
    for w in rep.warnings:
        console_err.print(f"[yellow]warning:[/] {w}", highlight=False)
    if as_json:
        console.print_json(json.dumps(rep.as_dict(), ensure_ascii=False))
        return
    console.print(
        f"{rep.old} -> {rep.new}: {len(rep.added):,} added, {len(rep.removed):,} removed, "
        f"{len(rep.relabelled):,} relabelled, {len(rep.moved_split):,} changed split"
    )
    for what, ids in (
        ("relabelled", rep.relabelled),
        ("added", rep.added),
        ("removed", rep.removed),
    ):
        if ids:
            more = f" (+{len(ids) - 5:,} more)" if len(ids) > 5 else ""
            console.print(f"  {what}: {', '.join(ids[:5])}{more}")
    table = Table(title="label counts")
    for col in ("kind", "label", rep.old, rep.new, "change"):
        table.add_column(col, justify="right" if col not in ("kind", "label") else "left")
    for kind, labels in rep.label_counts.items():
        for label, c in labels.items():
            table.add_row(kind, label, f"{c['before']:,}", f"{c['after']:,}", f"{c['delta']:+,}")
    console.print(table)


@app.command()
def report(
    release: Annotated[
        str | None,
        typer.Option(
            "--release",
            help="The release to report on (default: the newest published one, if any).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            help="Folder for index.html and the PNGs (default: report/ in the workspace).",
            show_default=False,
        ),
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Draw a self-contained HTML report with plots (labels, sources, agreement, pre-labels).

    Labels per split, sentences and events per source and month (from the release);
    agreement per label, pre-label acceptance per label and per model version, annotator
    throughput, and the learning curve of a trained model (from the workspace). Plots are
    embedded in the page, which needs no network to open.

    Example: corpus report --release 1.0.0 --out /tmp/report
    """
    from pathlib import Path

    from corpus.publish.manifest import list_versions
    from corpus.publish.release import release_dir
    from corpus.publish.report import PAGE, build_report, write_report

    ws = open_workspace(workspace)
    if release is None:
        published = list_versions(ws.releases_dir)
        release = published[-1] if published else None
    path = release_dir(ws, release) if release else None
    target = Path(out) if out else ws.root / "report"
    with console_err.status("drawing the report", spinner="dots"):
        rep = build_report(ws, path)
        files = write_report(rep, target)
    for p in rep.plots:
        if p.png is None:
            console.print(f"{p.title}: {p.note}", highlight=False)
    console.print(f"Report: [bold]{escape(str(target / PAGE))}[/] ({len(files) - 1} plots)")
