"""Command-line interface (`avrec` and `python -m avrec`)."""

from avrec.cli.app import app


def main() -> None:
    app(prog_name="avrec")


__all__ = ["app", "main"]
