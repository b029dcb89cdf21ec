"""`avrec similar ITEM` and `avrec search TEXT`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from avrec.cli.app import settings_of
from avrec.cli.common import MAX_K, open_store
from avrec.cli.output import Format, emit_rows, resolve

COLUMNS = ("rank", "item_id", "score", "title", "evidence")


def register(app: typer.Typer) -> None:
    app.command("similar")(similar)
    app.command("search")(search)


def _rows(hits: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "rank": n,
            "item_id": h.item_id,
            "score": h.score,
            "title": getattr(h, "title", None),
            "evidence": getattr(h, "evidence", None),
        }
        for n, h in enumerate(hits, start=1)
    ]


def similar(
    ctx: typer.Context,
    item: Annotated[str, typer.Argument(help="Item id.")],
    k: Annotated[int, typer.Option("-k", "--top", min=1, max=MAX_K, help="How many.")] = 10,
    modality: Annotated[
        str | None, typer.Option("--modality", "-m", help="Compare only text, visual or audio vectors.")
    ] = None,
    output_format: Annotated[Format | None, typer.Option("--format", "-f", help="table, json, jsonl or csv.")] = None,
) -> None:
    """Items whose content is closest to ITEM."""
    from avrec.search import similar as run

    settings = settings_of(ctx)
    with open_store(settings) as store:
        hits = run(store, item, k=k, modality=modality)
    emit_rows(_rows(hits), COLUMNS, resolve(output_format), title=f"similar to {item}")


def search(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="What to look for, in words.")],
    k: Annotated[int, typer.Option("-k", "--top", min=1, max=MAX_K, help="How many.")] = 10,
    output_format: Annotated[Format | None, typer.Option("--format", "-f", help="table, json, jsonl or csv.")] = None,
) -> None:
    """Items matching TEXT: titles, descriptions, tags and transcripts (and frames when CLIP is present)."""
    from avrec.search import search as run

    settings = settings_of(ctx)
    with open_store(settings) as store:
        hits = run(store, settings, text, k=k)
    emit_rows(_rows(hits), COLUMNS, resolve(output_format), title=f"search: {text}")
