"""The Typer application: global options, the single error handler, and command registration.

Command modules stay small: each parses options, calls one library function and renders the result.
Heavy libraries (torch, encoders) are imported inside the commands that need them, so `recommend`,
`explain` and `info` start fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from avrec import __version__
from avrec.config import Settings, default_store_path
from avrec.errors import AvrecError


class AvrecGroup(TyperGroup):
    """Turns every `AvrecError` raised below into one line on stderr and its exit code."""

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click.Context
        try:
            return super().invoke(ctx)
        except AvrecError as exc:
            for line in exc.lines():
                typer.echo(f"avrec: error: {line}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("avrec: interrupted; what was already stored is kept", err=True)
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=AvrecGroup,
    name="avrec",
    help="Recommend audio and video content by understanding it. Data on stdout, logs on stderr.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

DEVICES = ("auto", "cpu", "cuda", "mps")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"avrec {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    ctx: typer.Context,
    store: Annotated[
        Path | None,
        typer.Option("--store", help="Store directory [env AVREC_STORE, else ./avrec-store].", show_default=False),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="Where encoders run: auto, cpu, cuda or mps.")] = "auto",
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="CPU threads for numerical work and encoders.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or warnings on stderr.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    if device not in DEVICES:
        raise typer.BadParameter(f"{device!r} is not one of {', '.join(DEVICES)}", param_hint="--device")
    if threads is not None:
        # For child processes and libraries not loaded yet ...
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "AVREC_THREADS"):
            os.environ[var] = str(threads)
        # ... and for the BLAS numpy has already loaded (torch is capped where encoders load it).
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)
    ctx.obj = Settings(store=store or default_store_path(), device=device, threads=threads, quiet=quiet)


def settings_of(ctx: typer.Context) -> Settings:
    obj = ctx.find_root().obj
    if not isinstance(obj, Settings):  # called without the callback (library misuse)
        return Settings()
    return obj


def _register() -> None:
    from avrec.cli import embed, evaluate, explain, fit, info, ingest, recommend, report, similar

    app.add_typer(ingest.app, name="ingest")
    for module in (embed, fit, recommend, explain, info, evaluate, similar, report):
        module.register(app)


_register()
