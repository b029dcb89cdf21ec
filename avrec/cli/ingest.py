"""`avrec ingest media|catalog|interactions|users`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from avrec.cli.app import settings_of
from avrec.cli.common import open_store, report_dict, source_arg
from avrec.cli.output import Format, emit_object, plain, resolve
from avrec.cli.progress import CliProgress
from avrec.errors import PartialFailureError, UsageError

app = typer.Typer(
    help="Read media files, catalogs, interaction logs and user attributes into the store.", no_args_is_help=True
)

FormatIn = Annotated[
    str | None,
    typer.Option("--format", help="Input format: csv, jsonl (or parquet for interactions); default by extension."),
]
SkipBad = Annotated[
    bool,
    typer.Option("--skip-bad-rows", help="Store the good rows and report the bad ones instead of rejecting the file."),
]
Out = Annotated[Format | None, typer.Option("--output-format", help="Summary format: table, json, jsonl, csv.")]


def _finish(report: Any, out: Format | None, quiet: bool, failures: list[str] | None = None) -> None:
    summary = report_dict(report)
    fmt = resolve(out, piped_default=Format.json)
    if fmt is Format.table:
        if not quiet:
            typer.echo(plain(report.summary()), err=True)
            for line in getattr(report, "bad_row_lines", lambda: [])():
                typer.echo(f"  {plain(line)}", err=True)
    else:
        emit_object(summary, fmt)
    if failures:
        raise PartialFailureError(failures)
    if summary.get("bad_rows"):
        raise typer.Exit(1)


@app.command("media")
def media(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Media files or folders (searched recursively).")],
    output_format: Out = None,
) -> None:
    """Probe media files, record their content hash and create or update their items."""
    from avrec.ingest.media import ingest_media

    settings = settings_of(ctx)
    with open_store(settings, create=True) as store, CliProgress(settings.quiet) as progress:
        report = ingest_media(store, paths, progress=progress)
    # Messages from the library already start with the file's path; do not print it twice.
    failures = [message if path in message else f"{path}: {message}" for path, message in report.failed]
    _finish(report, output_format, settings.quiet, failures)


@app.command("catalog")
def catalog(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="CSV or JSONL file of items, or - for stdin.")],
    format: FormatIn = None,
    skip_bad_rows: SkipBad = False,
    output_format: Out = None,
) -> None:
    """Upsert item metadata: item_id,title,description,tags,path[,creator] (+ any other columns)."""
    from avrec.ingest import ingest_catalog

    settings = settings_of(ctx)
    with open_store(settings, create=True) as store:
        report = ingest_catalog(store, source_arg(file), format=format, skip_bad_rows=skip_bad_rows)
    _finish(report, output_format, settings.quiet)


def _event_weights(pairs: list[str]) -> dict[str, float] | None:
    if not pairs:
        return None
    from avrec.config import DEFAULT_EVENT_WEIGHTS

    weights = dict(DEFAULT_EVENT_WEIGHTS)
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise UsageError(f"--event-weight {pair!r} is not EVENT=NUMBER") from None
        if not sep or not name.strip():
            raise UsageError(f"--event-weight {pair!r} is not EVENT=NUMBER")
    return weights


@app.command("interactions")
def interactions(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="CSV, JSONL or Parquet file of events, or - for stdin.")],
    format: FormatIn = None,
    skip_bad_rows: SkipBad = False,
    event_weight: Annotated[
        list[str] | None,
        typer.Option("--event-weight", help="Weight of an event type, e.g. --event-weight like=3 (repeatable)."),
    ] = None,
    output_format: Out = None,
) -> None:
    """Add user events: user_id,item_id[,timestamp,event,weight]. Duplicates are not counted twice."""
    from avrec.ingest import ingest_interactions

    settings = settings_of(ctx)
    weights = _event_weights(event_weight or [])
    with open_store(settings, create=True) as store:
        report = ingest_interactions(
            store, source_arg(file), format=format, skip_bad_rows=skip_bad_rows, event_weights=weights
        )
    _finish(report, output_format, settings.quiet)


@app.command("users")
def users(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="CSV or JSONL file of user attributes, or - for stdin.")],
    format: FormatIn = None,
    skip_bad_rows: SkipBad = False,
    output_format: Out = None,
) -> None:
    """Upsert user attributes (user_id plus age, gender, region, occupation, ...)."""
    from avrec.ingest import ingest_users

    settings = settings_of(ctx)
    with open_store(settings, create=True) as store:
        report = ingest_users(store, source_arg(file), format=format, skip_bad_rows=skip_bad_rows)
    _finish(report, output_format, settings.quiet)
