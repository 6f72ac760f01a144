"""The `corpus` command line. Command groups live in sibling modules and register on `app`."""

from __future__ import annotations

import sys

from corpus.cli.app import app, console_err
from corpus.errors import CorpusError

# Importing a command module registers its commands on `app`.
from corpus.cli import workspace_cmds  # noqa: E402,F401  isort: skip
from corpus.cli import ingest_cmd  # noqa: E402,F401  isort: skip
from corpus.cli import segment_cmd  # noqa: E402,F401  isort: skip
from corpus.cli import pull_cmds  # noqa: E402,F401  isort: skip
from corpus.cli import publish_cmds  # noqa: E402,F401  isort: skip
from corpus.cli import labelstudio_cmds  # noqa: E402,F401  isort: skip
from corpus.cli import prelabel_cmd  # noqa: E402,F401  isort: skip
from corpus.cli import train_cmd  # noqa: E402,F401  isort: skip

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app and turns typed errors into one friendly message."""
    try:
        app(args=argv, standalone_mode=False)
    except CorpusError as e:
        console_err.print(f"[bold red]error:[/] {e.message}", highlight=False, soft_wrap=True)
        if e.hint:
            console_err.print(f"[yellow]hint:[/] {e.hint}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        console_err.print("[red]interrupted[/]: finished steps are kept; re-run to continue.")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:  # click usage errors and aborts
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(e.exit_code)
        if isinstance(e, click.exceptions.Abort):
            sys.exit(1)
        raise
