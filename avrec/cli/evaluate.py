"""`avrec evaluate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from avrec.cli.app import settings_of
from avrec.cli.common import open_store
from avrec.cli.output import Format, emit_object, emit_rows, resolve
from avrec.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)


def evaluate(
    ctx: typer.Context,
    models: Annotated[
        str, typer.Option("--models", help="Comma-separated models to compare.")
    ] = "hybrid,mf,itemknn,content,popular",
    split: Annotated[
        str, typer.Option("--split", help="random (per-user holdout), temporal, cold-items or cold-users.")
    ] = "random",
    ks: Annotated[
        str, typer.Option("-k", "--top", "--k", help="Cut-offs, comma-separated (-k/--top as in every command).")
    ] = "5,10,20",
    fraction: Annotated[float, typer.Option("--fraction", min=0.01, max=0.9, help="Share held out.")] = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Split and model seed.")] = 42,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a PNG of metric vs k here.")] = None,
    output_format: Annotated[Format | None, typer.Option("--format", "-f", help="table, json, jsonl or csv.")] = None,
) -> None:
    """Offline metrics (NDCG@k, Recall@k, MAP@k, coverage) of several models on one split of the store's data."""
    from avrec.training.evaluate import evaluate_store

    settings = settings_of(ctx)
    names = [m.strip() for m in models.split(",") if m.strip()]
    try:
        cut_offs = [int(x) for x in ks.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"-k {ks!r} is not a comma-separated list of numbers") from None
    with open_store(settings) as store:
        report = evaluate_store(
            store,
            models=names,
            split=split.replace("-", "_"),
            ks=cut_offs,
            fraction=fraction,
            seed=seed,
            plot=plot,
        )
    fmt = resolve(output_format, piped_default=Format.json)
    if fmt is Format.json:
        emit_object(report, fmt)
    else:
        rows = report["rows"]
        emit_rows(rows, list(rows[0].keys()) if rows else ["model"], fmt, title=f"evaluate ({split})")
