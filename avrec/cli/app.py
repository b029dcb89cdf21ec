"""The Typer application: global options, the single error handler, and command registration.

Command modules stay small: each parses options, calls one library function and renders the result.
Heavy libraries (torch, encoders) are imported inside the commands that need them, so `recommend`,
`explain` and `info` start fast.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from click import exceptions as _click
from typer.core import TyperGroup

from avrec import __version__
from avrec.config import Settings, default_store_path, usable_cores
from avrec.errors import AvrecError


class AvrecGroup(TyperGroup):
    """Turns every `AvrecError` raised below into one line on stderr and its exit code.

    The library raises typed errors; what still escapes it (the operating system's: a full disk, a
    damaged database page, no memory) is named here in one line too, never as a traceback. An error of
    any other type is a bug: one line says so (`AVREC_DEBUG=1` shows the traceback).
    """

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click.Context
        try:
            return super().invoke(ctx)
        except (_click.Exit, _click.Abort, _click.ClickException):
            raise
        except AvrecError as exc:
            from avrec.cli.output import error_line

            *earlier, last = exc.lines()
            for line in earlier:
                typer.echo(error_line(line), err=True)
            _fail(_option_named(exc, last), exc.exit_code)
        except KeyboardInterrupt:
            typer.echo("avrec: interrupted; what was already stored is kept", err=True)
            raise typer.Exit(130) from None
        except BrokenPipeError:
            _quiet_stdout()  # `avrec recommend ... | head`: the reader has all it wanted
            raise typer.Exit(141) from None
        except sqlite3.DatabaseError as exc:
            from avrec.store import database_error

            _fail(str(database_error(_store_of(ctx) / "avrec.db", exc)), 1)
        except OSError as exc:
            _fail(_os_message(exc), 1)
        except MemoryError:
            _fail("out of memory: ask for less (smaller -k, --param values or batches) or free memory", 1)
        except Exception as exc:  # noqa: BLE001 - the last line of defence, see the docstring
            if os.environ.get("AVREC_DEBUG"):
                raise
            _fail(f"internal error ({type(exc).__name__}: {exc}); this is a bug in avrec: please report it "
                  "with the output of the same command run with AVREC_DEBUG=1", 1)


#: Library parameters whose command-line option is not simply ``--`` + the parameter's name.
_OPTIONS = {"params": "--param"}


def _option_named(exc: AvrecError, line: str) -> str:
    """The message in command-line terms: a leading library parameter (`exc.param`) becomes its option."""
    param = exc.param
    if param and line.startswith(param + " "):
        return _OPTIONS.get(param, "--" + param.replace("_", "-")) + line[len(param):]
    return line


def _fail(message: str, code: int) -> NoReturn:
    from avrec.cli.output import error_line

    typer.echo(error_line(message), err=True)
    raise typer.Exit(code) from None


def _store_of(ctx: Any) -> Path:
    obj = ctx.obj
    return obj.store if isinstance(obj, Settings) else default_store_path()


def _os_message(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    what = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"{where}{what}: free some space (or raise the limit) and run the command again; what was stored is kept"
    return f"{where}{what}"


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that Python's own flush at exit does not fail a second time."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def flush_stdout() -> None:
    """Flush what is left of the data on stdout; a full disk or closed pipe is one line, not a traceback."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
        raise SystemExit(141) from None
    except OSError as exc:
        _quiet_stdout()
        from avrec.cli.output import error_line

        typer.echo(error_line(f"cannot write the output: {exc.strerror or exc}"), err=True)
        raise SystemExit(1) from None


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
        str | None,
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
    if store is not None and not store.strip():
        # Path("") is the current folder: an empty value (an unset shell variable) must not make it a store.
        raise typer.BadParameter("is empty; give the store's folder", param_hint="--store")
    if threads is not None:
        threads = _sane_threads(threads, quiet)
        # For child processes and libraries not loaded yet ...
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "AVREC_THREADS"):
            os.environ[var] = str(threads)
        # ... and for the BLAS numpy has already loaded (torch is capped where encoders load it).
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)
    root = Path(store) if store else default_store_path()
    ctx.obj = Settings(store=root, device=device, threads=threads, quiet=quiet)


#: More threads than this many per core only add switching and memory (512 started 1,090 threads on 2 cores).
THREADS_PER_CORE = 4


def _sane_threads(threads: int, quiet: bool) -> int:
    cores = usable_cores()
    most = THREADS_PER_CORE * cores
    if threads <= most:
        return threads
    if not quiet:
        typer.echo(
            f"avrec: warning: --threads {threads} is more than {THREADS_PER_CORE} per CPU core ({cores} here); "
            f"using {most}",
            err=True,
        )
    return most


def settings_of(ctx: typer.Context) -> Settings:
    obj = ctx.find_root().obj
    if not isinstance(obj, Settings):  # called without the callback (library misuse)
        return Settings()
    return obj


def _register() -> None:
    from avrec.cli import embed, evaluate, explain, fit, info, ingest, recommend, report, similar, takeout

    app.add_typer(ingest.app, name="ingest")
    for module in (embed, fit, recommend, explain, info, evaluate, similar, report, takeout):
        module.register(app)


_register()
