"""`avrec fit`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from avrec.cli.app import settings_of
from avrec.cli.common import open_store
from avrec.cli.output import Format, emit_object, resolve
from avrec.cli.progress import CliProgress
from avrec.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command("fit")(fit)


def _params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--param {pair!r} is not NAME=VALUE")
        try:
            params[name] = json.loads(raw)
        except json.JSONDecodeError:
            params[name] = raw
    return params


def fit(
    ctx: typer.Context,
    model: Annotated[
        str | None,
        typer.Option("--model", help="hybrid (default), mf, content, popular, itemknn or ease (up to 20,000 items)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Random seed (default 42); the same seed and data give the same model.")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Model hyperparameter NAME=VALUE (repeatable).")
    ] = None,
    holdout: Annotated[
        float | None,
        typer.Option("--holdout", min=0.0, max=0.9, help="Also report NDCG/Recall@10 on this fraction held out."),
    ] = None,
    tune: Annotated[
        bool, typer.Option("--tune", help="Search hyperparameters on a validation split of the training data.")
    ] = False,
    incremental: Annotated[
        bool,
        typer.Option("--incremental", help="Fold in users, items and events since the last fit without retraining."),
    ] = False,
    engine: Annotated[str | None, typer.Option("--engine", help="local (default) or spark.")] = None,
    spark_master: Annotated[
        str | None, typer.Option("--spark-master", help="Spark master URL (default local[*]).")
    ] = None,
    output_format: Annotated[
        Format | None, typer.Option("--format", "-f", help="Report format (json for scripts).")
    ] = None,
) -> None:
    """Train the hybrid model (or a baseline), store it and build its Annoy index."""
    from avrec.training.fit import fit as run_fit
    from avrec.training.fit import update

    settings = settings_of(ctx)
    with open_store(settings) as store:
        if incremental:
            report = update(
                store,
                refused={
                    "--model": model, "--seed": seed, "--param": param, "--holdout": holdout, "--tune": tune,
                    "--engine": engine, "--spark-master": spark_master,
                },
                threads=settings.threads,
            )
            if report.incremental and report.incremental["refit_due"]:
                CliProgress(settings.quiet, bar=False).warn(
                    "the data has grown more than 20% since the last full fit; run `avrec fit`"
                )
        else:
            report = run_fit(
                store,
                model=model or "hybrid",
                seed=42 if seed is None else seed,
                params=_params(param or []),
                holdout=holdout,
                tune=tune,
                engine=engine or "local",
                spark_master=spark_master,
                threads=settings.threads,
            )
    emit_object(report.as_dict(), resolve(output_format, piped_default=Format.json))
