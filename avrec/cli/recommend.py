"""`avrec recommend`."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from avrec.cli.app import settings_of
from avrec.cli.common import MAX_K, open_store, report_dict
from avrec.cli.output import Format, emit_object, emit_rows, resolve
from avrec.cli.progress import CliProgress
from avrec.errors import InputError, UsageError
from avrec.serving.index import ANN_MIN_ITEMS

COLUMNS = ("user_id", "item_id", "rank", "score")


def register(app: typer.Typer) -> None:
    app.command("recommend")(recommend)


def read_ids(source: str, header: str) -> Iterator[str]:
    """Ids one per line (a header line `header` and extra CSV columns are ignored); `-` is stdin."""
    try:
        stream = sys.stdin if source == "-" else open(Path(source), encoding="utf-8-sig", newline="")  # noqa: SIM115
    except OSError as exc:
        raise InputError(f"cannot read ids from {source}: {exc.strerror}") from None
    try:
        # The first CSV field of each row, so ids that `recommend --format csv` quoted (commas, quotes) come back
        # exactly; a plain one-id-per-line file reads the same.
        for n, fields in enumerate(csv.reader(stream), start=1):
            value = fields[0].strip() if fields else ""
            if not value or (n == 1 and value == header):
                continue
            yield value
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read ids from {source}: {exc}") from None
    finally:
        if stream is not sys.stdin:
            stream.close()


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
            f"Default: the index on catalogs of {ANN_MIN_ITEMS:,} items or more.",
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
    from avrec.recommend import recommend as run

    settings = settings_of(ctx)
    chosen = sum(bool(x) for x in (user, users, all_users))
    if chosen > 1:
        raise UsageError("give only one of --user, --users and --all-users")
    if chosen == 0 and history is None:
        raise UsageError("say whom to recommend for: --user ID, --users FILE|- or --all-users (or --history)")
    if users == "-" and candidates == "-":
        raise UsageError("--users and --candidates cannot both read stdin")
    user_iter = read_ids(users, "user_id") if users else user
    hist = [h.strip() for h in history.split(",") if h.strip()] if history is not None else None
    pool = set(read_ids(candidates, "item_id")) if candidates else None
    if engine not in ("local", "spark"):
        raise UsageError(f"unknown engine {engine!r}; choose local or spark")
    if engine == "spark":
        if output is None:
            raise UsageError("--engine spark writes Parquet: give --output DIR")
        if query or hist is not None or by is not None:
            raise UsageError("--engine spark does not support --query, --history or --by")
        from avrec.engines.spark import recommend_spark

        with open_store(settings) as store:
            report = recommend_spark(
                store, output=output, k=k, master=spark_master, users=None if all_users else user_iter,
                candidates=pool, include_seen=include_seen, overwrite=overwrite,
            )
        emit_object(report_dict(report), resolve(output_format, piped_default=Format.json))
        return
    if output is not None:
        raise UsageError("--output is for --engine spark; the local engine writes to stdout")
    fmt = resolve(output_format)
    # --users FILE is a batch: unknown ids are skipped and reported; --user names them, so it fails at once.
    skipped: list[str] | None = [] if users else None
    with open_store(settings) as store:
        if by is not None:
            from avrec.recommend import recommend_by

            if query or pool is not None:
                raise UsageError("--by cannot be combined with --query or --candidates")
            cats = recommend_by(store, by, users=user_iter, all_users=all_users, k=k, history=hist)
            emit_rows(
                (c.as_dict() for c in cats),
                ("user_id", "category", "rank", "score", "items"),
                fmt,
                title=f"recommended {by}",
            )
            return
        query_scores = None
        if query:
            from avrec.search import query_item_scores

            query_scores = query_item_scores(store, settings, query) * query_weight
        rows = run(
            store,
            users=user_iter,
            all_users=all_users,
            k=k,
            candidates=pool,
            include_seen=include_seen,
            history=hist,
            query_scores=query_scores,
            use_index=index,
            progress=CliProgress(settings.quiet, bar=False),
            skipped=skipped,
        )
        emit_rows((r.as_dict() for r in rows), COLUMNS, fmt, title="recommendations")
    if skipped:
        # A batch serves everyone it can; the run still fails so a cron job notices.
        typer.echo(f"avrec: error: {len(skipped)} unknown user id(s) skipped (first: {skipped[0]!r})", err=True)
        raise typer.Exit(1)
