"""`avrec recommend`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from avrec.cli.app import settings_of
from avrec.cli.common import MAX_K, open_store, report_dict
from avrec.cli.output import Format, emit_object, emit_records, emit_rows, resolve
from avrec.cli.progress import CliProgress
from avrec.serving.index import ANN_BATCH_MIN_ITEMS, ANN_MIN_ITEMS

COLUMNS = ("user_id", "item_id", "rank", "score")
CATEGORY_COLUMNS = ("user_id", "category", "rank", "score", "items")


def register(app: typer.Typer) -> None:
    app.command("recommend")(recommend)


def recommend(
    ctx: typer.Context,
    user: Annotated[list[str] | None, typer.Option("--user", "-u", help="User id (repeatable).")] = None,
    users: Annotated[
        str | None, typer.Option("--users", help="File of user ids, one per line, or - for stdin.")
    ] = None,
    all_users: Annotated[bool, typer.Option("--all-users", help="Every user in the store.")] = False,
    k: Annotated[int, typer.Option("-k", "--top", min=1, max=MAX_K, help="Recommendations per user.")] = 10,
    candidates: Annotated[
        str | None, typer.Option("--candidates", help="Only recommend from these item ids (file or -).")
    ] = None,
    include_seen: Annotated[
        bool, typer.Option("--include-seen", help="Keep items the user already interacted with.")
    ] = False,
    history: Annotated[
        str | None, typer.Option("--history", help="Serve a user not in the model from these item ids: ID,ID,...")
    ] = None,
    query: Annotated[
        str | None, typer.Option("--query", help="Steer the list towards items matching this text.")
    ] = None,
    query_weight: Annotated[float, typer.Option("--query-weight", help="How strongly --query steers.")] = 1.0,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Rank categories instead of items: tags, creator or any catalog attribute."),
    ] = None,
    index: Annotated[
        bool | None,
        typer.Option(
            "--ann/--exact",
            help="Candidates from the model's Annoy index, re-scored exactly (approximate), or score every item. "
            f"Default: the index on catalogs of {ANN_MIN_ITEMS:,} items or more "
            f"({ANN_BATCH_MIN_ITEMS:,} with --all-users).",
            show_default=False,
        ),
    ] = None,
    engine: Annotated[
        str, typer.Option("--engine", help="local (default), or spark: batch scoring on Spark into --output.")
    ] = "local",
    output: Annotated[
        Path | None, typer.Option("--output", help="With --engine spark: directory for the Parquet output.")
    ] = None,
    spark_master: Annotated[str | None, typer.Option("--spark-master", help="Spark master URL.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --output directory.")] = False,
    output_format: Annotated[Format | None, typer.Option("--format", "-f", help="table, json, jsonl or csv.")] = None,
) -> None:
    """Top-k items per user as rows user_id,item_id,rank,score (rank 1 = best); with --by, categories."""
    from avrec.recommend import Request, recommend_by, serve

    settings = settings_of(ctx)
    hist = [h.strip() for h in history.split(",") if h.strip()] if history is not None else None
    request = Request(
        user=user, users_file=users, all_users=all_users, history=hist, k=k, candidates_file=candidates,
        include_seen=include_seen, query=query, query_weight=query_weight, by=by, use_index=index, engine=engine,
        output=output,
    )
    request.check()
    if engine == "spark" and output is not None:  # (`check` made sure spark has an --output)
        from avrec.engines.spark import recommend_spark

        with open_store(settings) as store:
            report = recommend_spark(
                store, output=output, k=k, master=spark_master, users=None if all_users else request.users(),
                candidates=request.candidates(), include_seen=include_seen, overwrite=overwrite,
                progress=CliProgress(settings.quiet, bar=False),
            )
        emit_object(report_dict(report), resolve(output_format, piped_default=Format.json))
        return
    fmt = resolve(output_format)
    with open_store(settings) as store:
        if by is not None:
            cats = recommend_by(store, by, users=request.users(), all_users=all_users, k=k, history=hist)
            emit_rows((c.as_dict() for c in cats), CATEGORY_COLUMNS, fmt, title=f"recommended {by}")
            return
        answer = serve(store, settings, request, CliProgress(settings.quiet, bar=False))
        emit_records(answer.rows, COLUMNS, fmt, title="recommendations")
    answer.finish()
