"""Command-line interface (`avrec` and `python -m avrec`)."""

from avrec.cli.app import app, flush_stdout


def main() -> None:
    try:
        app(prog_name="avrec")
    finally:
        flush_stdout()


__all__ = ["app", "main"]
