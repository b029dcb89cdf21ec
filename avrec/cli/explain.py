"""`avrec explain`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from avrec.cli.app import settings_of
from avrec.cli.common import open_store
from avrec.cli.output import Format, data_text, dumps, emit_rows, plain, resolve

if TYPE_CHECKING:
    from avrec.explain import Explanation


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)


def explain(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", "-u", help="User id (or a label for --history).")],
    item: Annotated[str, typer.Option("--item", "-i", help="Item id to explain.")],
    history: Annotated[
        str | None, typer.Option("--history", help="Explain for a user not in the model: ID,ID,...")
    ] = None,
    n_history: Annotated[int, typer.Option("--top-history", min=1, help="History items to list.")] = 5,
    output_format: Annotated[Format | None, typer.Option("--format", "-f", help="table, json, jsonl or csv.")] = None,
) -> None:
    """Why this item scores what it does for this user: parts, driving history and content evidence."""
    from avrec.explain import explain as run

    settings = settings_of(ctx)
    hist = [h.strip() for h in history.split(",") if h.strip()] if history is not None else None
    with open_store(settings) as store:
        exp = run(store, user_id=user, item_id=item, history=hist, n_history=n_history)
    fmt = resolve(output_format, piped_default=Format.json)
    if fmt in (Format.json, Format.jsonl):
        typer.echo(dumps(exp.as_dict()))
    elif fmt is Format.csv:
        rows = [{"kind": "part", "name": k, "value": v} for k, v in exp.parts.items()]
        rows += [{"kind": "history", "name": h["item_id"], "value": h["contribution"]} for h in exp.history]
        rows.append({"kind": "score", "name": "total", "value": exp.score})
        emit_rows(rows, ("kind", "name", "value"), fmt)
    else:
        _render(exp)


def _render(exp: Explanation) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    head = data_text(exp.title or exp.item_id)
    head.stylize("bold")
    head.append(plain(f" for user {exp.user_id}: score {exp.score:.4f}"))
    console.print(head)
    console.print(data_text(exp.sentence), highlight=False)
    parts = Table(title="parts (add up to the score)")
    parts.add_column("part")
    parts.add_column("value", justify="right")
    for name, value in exp.parts.items():
        parts.add_row(data_text(name), f"{value:+.4f}")
    console.print(parts)
    if exp.history:
        hist = Table(title="history that drove it")
        hist.add_column("item")
        hist.add_column("title")
        hist.add_column("contribution", justify="right")
        for h in exp.history:
            hist.add_row(data_text(h["item_id"]), data_text(h.get("title") or ""), f"{h['contribution']:+.4f}")
        console.print(hist)
    for ev in exp.evidence:
        console.print(
            data_text(f"- {ev['modality']}: " + dumps({k: v for k, v in ev.items() if k != "modality"})),
            highlight=False,
        )
