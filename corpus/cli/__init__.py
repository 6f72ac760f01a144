"""The `corpus` command line. Command groups live in sibling modules and register on `app`.

Exit codes: 0 success, 1 failure (a typed error, a file that cannot be read or written, a busy
workspace, a server that is down), 2 usage error (unknown command or option, missing or invalid
argument), 130 interrupted.
"""

from __future__ import annotations

import errno
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

__all__ = ["app", "command", "main"]

USAGE_EXIT = 2


def command():
    """The click command tree of `app`, with boolean flags shown plainly in --help.

    Typer labels every flag `<bool>`, which invites `--full true`; an empty metavar hides it.
    """
    import typer.main
    from typer import _click

    root = typer.main.get_command(app)

    def plain_flags(cmd, ctx) -> None:
        for param in cmd.get_params(ctx):
            if getattr(param, "is_flag", False):
                param.metavar = ""
        for name, sub in getattr(cmd, "commands", {}).items():
            plain_flags(sub, _click.Context(sub, parent=ctx, info_name=name))

    plain_flags(root, _click.Context(root, info_name="corpus"))
    return root


def _error(message: str, hint: str | None = None) -> None:
    from rich.markup import escape

    # Messages carry file names and server replies: never interpret them as markup.
    console_err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    if hint:
        console_err.print(f"[yellow]hint:[/] {escape(hint)}", soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app; every usage error and typed error becomes one message.

    This is the one place that maps errors to exit codes (see the module docstring).
    """
    from typer import Abort as TyperAbort
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

    try:
        code = command().main(args=argv, prog_name="corpus", standalone_mode=False)
    except CorpusError as e:
        _error(e.message, e.hint)
        sys.exit(e.exit_code)
    except NoArgsIsHelpError:
        sys.exit(USAGE_EXIT)  # the help was printed
    except UsageError as e:
        where = e.ctx.command_path if e.ctx is not None else "corpus"
        _error(e.format_message(), f"see `{where} --help`")
        sys.exit(USAGE_EXIT)
    except ClickException as e:
        _error(e.format_message())
        sys.exit(e.exit_code or 1)
    except (TyperAbort, EOFError):
        _error("aborted")
        sys.exit(1)
    except KeyboardInterrupt:
        console_err.print("[red]interrupted[/]: finished steps are kept; re-run to continue.")
        sys.exit(130)
    except OSError as e:
        if (remote := _remote_error(e)) is not None:
            _error(remote.message, remote.hint)
            sys.exit(1)
        if e.errno == errno.EPIPE:  # output piped into `head` and closed: not an error
            sys.exit(1)
        what = f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")
        _error(what, "Check the path and its permissions.")
        sys.exit(1)
    except Exception as e:
        if _is_arrow_error(e):
            _error(f"cannot read Parquet data ({e})", "A data file is damaged: re-run the stage "
                   "that writes it (see `corpus status`).")  # fmt: skip
            sys.exit(1)
        if (remote := _remote_error(e)) is not None:
            _error(remote.message, remote.hint)
            sys.exit(1)
        raise
    # `typer.Exit(n)` inside a command returns n here (standalone mode is off).
    if isinstance(code, int) and code:
        sys.exit(code)


def _is_arrow_error(e: Exception) -> bool:
    # pyarrow is only checked when a command has already imported it.
    pa = sys.modules.get("pyarrow")
    return pa is not None and isinstance(e, pa.ArrowException)


def _remote_error(e: Exception) -> CorpusError | None:
    # Remote workspace data (corpus.fs) is the only user of fsspec clients' errors here.
    fs = sys.modules.get("corpus.fs")
    return fs.remote_error(e) if fs is not None and fs._last_remote else None
