"""`avrec info`."""

from __future__ import annotations

from typing import Annotated

import typer

from avrec.cli.app import settings_of
from avrec.cli.common import open_store
from avrec.cli.output import Format, emit_object, resolve


def register(app: typer.Typer) -> None:
    app.command("info")(info)


def info(
    ctx: typer.Context,
    output_format: Annotated[Format | None, typer.Option("--format", "-f", help="table, json, jsonl or csv.")] = None,
) -> None:
    """What the store holds: items, users, interactions, vectors per modality, models."""
    from avrec.info import info as run

    settings = settings_of(ctx)
    with open_store(settings) as store:
        emit_object(run(store), resolve(output_format, piped_default=Format.json))
