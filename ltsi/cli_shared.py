"""Helpers shared by the command-line commands (ltsi/cli_*.py): the one-line failure, checks on input
paths, the filter options, the metrics table and the progress bars.

Nothing heavy is imported at module level (rich, pandas): `python -m ltsi --help` starts fast.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, Optional

import typer

EXIT_USER_ERROR = 2


def fail(message: str) -> NoReturn:
    """Print one line 'error: ...' to stderr and exit with code 2."""
    typer.echo("error: " + " ".join(str(message).split()), err=True)
    raise typer.Exit(EXIT_USER_ERROR)


def check_input_file(path: Optional[str], what: str = "The log") -> None:
    """Refuse a folder, named pipe, device or socket before anything opens it (a pipe would block)."""
    if path is None:
        return
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return  # the reader explains a missing file
    except OSError as error:
        fail(f"{what} {path} cannot be read ({error.strerror or error}).")
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        kind = "a folder"
    elif stat.S_ISFIFO(mode):
        kind = "a named pipe (FIFO)"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "a device"
    elif stat.S_ISSOCK(mode):
        kind = "a socket"
    else:
        kind = "not a regular file"
    fail(f"{what} {path} is {kind}, not a file. Give the path of a file that holds the data.")


# Filters applied after loading, before anything else (ltsi.filters): the same options on validate and train
SINCE = typer.Option(None, "--since", help="Keep only events on or after this day (UTC), e.g. 2020-01-31.")
UNTIL = typer.Option(None, "--until", help="Keep only events on or before this day (UTC), e.g. 2020-12-31.")
EVENT_TYPES = typer.Option(
    None, "--event-types", help="Keep only these event types, separated by commas, e.g. purchase,cart."
)
MIN_RATING = typer.Option(None, "--min-rating", help="Keep only events rated at least this (the value column).")
SQL = typer.Option(
    None,
    "--sql",
    help="A query that picks the events: a SELECT over the files, read as the table 'events' "
    "(e.g. \"SELECT * FROM events WHERE country = 'DE'\"); read with DuckDB, out of memory.",
)
SAMPLE_USERS = typer.Option(
    None, "--sample-users", min=1, help="Read only this many users, chosen by a hash of their id (the same every time)."
)


def metrics_text(table) -> str:
    """The metrics table (one row per model) as aligned text with 4 decimals."""
    return table.to_string(index=False, float_format=lambda v: f"{v:.4f}")


class TrainingProgress:
    """Training progress for the terminal: a rich progress bar on a TTY, one line per epoch otherwise.

    Use it as a context manager around the training: the bar is closed on the way out.
    """

    def __init__(self, quiet: bool) -> None:
        from rich.console import Console

        self.quiet, self.console, self.bar, self.task = quiet, Console(stderr=True), None, None

    def __enter__(self) -> TrainingProgress:
        if not self.quiet and self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[message]}"),
                console=self.console,
            )
            self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, p) -> None:
        if self.quiet:
            return
        if self.bar is None:
            if p.metrics is not None or p.epoch == 0:
                typer.echo(p.message, err=True)
            return
        if p.epoch == 0 or self.task is None:  # a new training (LTSI, then each ablation)
            self.task = self.bar.add_task("", total=max(p.steps, 1), message="")
        self.bar.update(
            self.task,
            description=f"epoch {max(p.epoch, 1)}" + ("" if p.until_converged else f"/{p.epochs}"),
            completed=p.step,
            total=max(p.steps, 1),
            message=p.message[:60],
        )
        if p.metrics is not None:
            self.bar.console.print(p.message)


@contextmanager
def counting_bar(label: str, total: int) -> Iterator[Callable[[int, int], None]]:
    """A bar 'label [###  ] done/total elapsed remaining' on stderr while the block runs, only on a terminal.

    Yields `progress(done, total)` for the library's progress callback (its own total is ignored: the bar's
    total is fixed here).
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    columns = (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task("", total=total)
        yield lambda done, _total: bar.update(task, completed=done)
