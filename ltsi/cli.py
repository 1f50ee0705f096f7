"""Command line: `python -m ltsi COMMAND ...` (the same pipeline as the dashboard, no browser).

This module holds the Typer `app`, its error boundary and the list of commands. The commands are plain
functions, one module per job: ltsi/cli_data.py (validate, synth), ltsi/cli_train.py (train),
ltsi/cli_trained_run.py (explain, evaluate, recommend); what they share is in ltsi/cli_shared.py.

Every command runs inside one error boundary (`_ErrorBoundary`), so a user never sees a traceback: an
LTSIError becomes its own one-line message, anything else a generic one-line message, and the
exit code is 2. To add a command, write a plain function in the module of its job, call the library
directly and print with `typer.echo` (library code never prints); then register it below with
`app.command()`.
"""

from __future__ import annotations

from typing import NoReturn

import click
import typer
from typer.core import TyperGroup

from ltsi.cli_data import synth, validate
from ltsi.cli_shared import fail
from ltsi.cli_train import train
from ltsi.cli_trained_run import evaluate, explain_command, recommend
from ltsi.columns import ColumnError
from ltsi.errors import LTSIError

try:  # typer vendors its own copy of click (typer >= 0.20): its exceptions are not click's
    from typer._click import exceptions as _typer_click
except ImportError:  # pragma: no cover - an older typer uses click itself
    _typer_click = click.exceptions


# The option that names the column of a role (ColumnError.role): the library's message does not name it
COLUMN_OPTIONS = {"user": "--user-col", "item": "--item-col", "timestamp": "--time-col"}


class _NeverRaised(Exception):
    pass


_CLICK_MODULES = (click.exceptions, _typer_click)
_USAGE_ERRORS = tuple(m.UsageError for m in _CLICK_MODULES)
_CLICK_ERRORS = tuple(m.ClickException for m in _CLICK_MODULES)
_NO_ARGS = tuple(getattr(m, "NoArgsIsHelpError", _NeverRaised) for m in _CLICK_MODULES)  # help, not an error


def _usage_error(exc) -> NoReturn:
    """A bad option or a missing argument: one line naming it and where the options are listed."""
    hint = f" See '{exc.ctx.command_path} --help'." if exc.ctx is not None else ""
    fail(exc.format_message().rstrip(".") + "." + hint)


class _ErrorBoundary(TyperGroup):
    """The one place where a failure becomes one line on stderr and exit code 2, never a traceback.

    Usage errors (an unknown option, a missing argument, a bad value) are one line too, instead of
    click's boxed usage text; running with no arguments still shows the help.
    """

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _NO_ARGS:
            raise
        except _USAGE_ERRORS as exc:
            _usage_error(exc)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except _NO_ARGS:
            raise
        except _USAGE_ERRORS as exc:
            _usage_error(exc)
        except (typer.Exit, typer.Abort, *_CLICK_ERRORS, KeyboardInterrupt):
            raise
        except ColumnError as exc:
            fail(f"{exc} Use {COLUMN_OPTIONS[exc.role]} to choose it.")
        except LTSIError as exc:
            fail(str(exc))
        except MemoryError:
            fail(
                "Ran out of memory: the input or the settings ask for more than this machine has. Use a sample of "
                "the file or smaller settings."
            )
        except Exception as exc:  # noqa: BLE001 - the whole point: no traceback for users
            detail = " ".join(str(exc).split())[:200]
            fail(
                f"Unexpected problem ({type(exc).__name__}{': ' + detail if detail else ''}). "
                "Check the input; if it looks right, please report this with the file."
            )


app = typer.Typer(
    cls=_ErrorBoundary,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # never show a traceback, even a pretty one
    help="LTSI: long- and short-term interest models of behavior logs, with explanations.",
)


@app.callback()
def _main() -> None:
    """LTSI: long- and short-term interest models of behavior logs, with explanations."""
    # A callback keeps `validate` a named sub-command even while it is the only command.


# The order here is the order of `python -m ltsi --help`.
app.command()(validate)
app.command()(synth)
app.command("explain")(explain_command)
app.command()(train)
app.command()(evaluate)
app.command()(recommend)


def main() -> None:
    app()
