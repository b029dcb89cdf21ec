"""`avrec report`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from avrec.cli.app import settings_of
from avrec.cli.common import open_store
from avrec.cli.output import plain


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", "-u", help="User id.")],
    out: Annotated[
        str, typer.Option("--out", "-o", help="HTML file to write (through a symlink to its target), or - for stdout.")
    ],
    k: Annotated[int, typer.Option("-k", "--top", min=1, max=1000, help="Recommendations to show.")] = 10,
    plot: Annotated[
        Path | None, typer.Option("--plot", exists=True, help="Also embed this PNG (from evaluate).")
    ] = None,
) -> None:
    """Write a self-contained HTML page: thumbnail, title, score and reason per recommended item."""
    from avrec.report import build_report, render_report

    settings = settings_of(ctx)
    with open_store(settings) as store:
        if out == "-":
            page, n = build_report(store, user, k=k, plot=plot)
            sys.stdout.write(page)
        else:
            n = render_report(store, user, Path(out), k=k, plot=plot)
    if not settings.quiet:
        typer.echo(plain(f"wrote {'stdout' if out == '-' else out} ({n} items)"), err=True)
