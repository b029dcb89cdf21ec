"""`avrec forget --user U` and `avrec delete items|interactions`: taking data out of the store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from avrec.cli.app import settings_of
from avrec.cli.common import open_store, source_arg
from avrec.cli.output import Format, emit_object, plain, resolve
from avrec.errors import PartialFailureError, UsageError

if TYPE_CHECKING:  # the library (and through it avrec.ingest) loads only when a delete runs
    from avrec.takeout import DeleteReport

delete_app = typer.Typer(help="Delete items or interactions (one transaction each), then update the model.")

NoUpdate = Annotated[
    bool,
    typer.Option(
        "--no-update",
        help="Do not update the active model afterwards (then run `avrec fit --incremental` yourself).",
    ),
]
Out = Annotated[Format | None, typer.Option("--output-format", help="Report format: table, json, jsonl, csv.")]
FromFile = Annotated[
    str | None,
    typer.Option("--file", help="CSV or JSONL file (with a header) of what to delete, or - for stdin."),
]


def register(app: typer.Typer) -> None:
    app.command("forget")(forget)
    app.add_typer(delete_app, name="delete")


def _finish(report: DeleteReport, out: Format | None, quiet: bool) -> None:
    fmt = resolve(out, piped_default=Format.json)
    if fmt is Format.table:
        if not quiet:
            typer.echo(plain(report.summary()), err=True)
    else:
        emit_object(report.as_dict(), fmt)
    if report.missing:  # a partly failed request: the rest was removed, the unknown ones are named
        first = report.missing[0]
        raise PartialFailureError(
            [f"{len(report.missing)} not in the store, so nothing removed for them (first: {first})"]
        )


def forget(
    ctx: typer.Context,
    user: Annotated[list[str], typer.Option("--user", "-u", help="User id to forget (repeatable).")],
    no_update: NoUpdate = False,
    output_format: Out = None,
) -> None:
    """Remove every trace of a user: events, attributes and stored user vectors; then update the model."""
    from avrec.takeout import forget_users

    settings = settings_of(ctx)
    with open_store(settings) as store:
        report = forget_users(store, user, update_model=not no_update)
    _finish(report, output_format, settings.quiet)


@delete_app.command("items")
def items(
    ctx: typer.Context,
    ids: Annotated[list[str] | None, typer.Argument(help="Item ids to delete.", show_default=False)] = None,
    file: FromFile = None,
    no_update: NoUpdate = False,
    output_format: Out = None,
) -> None:
    """Delete items with their events, media record, vectors, frames and transcript."""
    from avrec.takeout import delete_items, read_ids

    settings = settings_of(ctx)
    wanted = list(ids or [])
    if file is not None:
        wanted += read_ids(source_arg(file), "item_id")
    if not wanted:
        raise UsageError("name the items to delete: ITEM_ID ... or --file FILE")
    with open_store(settings) as store:
        report = delete_items(store, wanted, update_model=not no_update)
    _finish(report, output_format, settings.quiet)


@delete_app.command("interactions")
def interactions(
    ctx: typer.Context,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Delete this user's events (all, or on --item).")
    ] = None,
    item: Annotated[
        str | None, typer.Option("--item", "-i", help="Delete events on this item (all, or of --user).")
    ] = None,
    event: Annotated[
        str | None, typer.Option("--event", help="Only events of this type (view, like, skip, ...).")
    ] = None,
    file: FromFile = None,
    no_update: NoUpdate = False,
    output_format: Out = None,
) -> None:
    """Delete events by user, item, pair or a file of user_id,item_id[,event] rows; users and items stay."""
    from avrec.takeout import delete_interactions, read_selectors

    settings = settings_of(ctx)
    selectors: list[tuple[str | None, str | None, str | None]] = []
    if user is not None or item is not None:
        selectors.append((user, item, event.strip().lower() if event else None))
    elif event is not None:
        raise UsageError("--event needs --user or --item")
    if file is not None:
        selectors += read_selectors(source_arg(file))
    with open_store(settings) as store:
        report = delete_interactions(store, selectors, update_model=not no_update)
    _finish(report, output_format, settings.quiet)
