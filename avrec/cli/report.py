"""`avrec report`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from avrec.cli.app import settings_of
from avrec.cli.common import open_store


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", "-u", help="User id.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")],
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="Recommendations to show.")] = 10,
    plot: Annotated[
        Path | None, typer.Option("--plot", exists=True, help="Also embed this PNG (from evaluate).")
    ] = None,
) -> None:
    """Write a self-contained HTML page: thumbnail, title, score and reason per recommended item."""
    from avrec.report import render_report

    settings = settings_of(ctx)
    with open_store(settings) as store:
        n = render_report(store, user, out, k=k, plot=plot)
    if not settings.quiet:
        typer.echo(f"wrote {out} ({n} items)", err=True)
