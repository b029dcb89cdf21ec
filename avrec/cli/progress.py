"""The CLI's `Progress`: a Rich bar on stderr when it is a terminal; warnings on stderr unless --quiet."""

from __future__ import annotations

import sys
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichBar


class CliProgress:
    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.console = Console(stderr=True, quiet=quiet)
        self.warnings: list[str] = []
        self._bar: RichBar | None = None
        self._tasks: dict[str, TaskID] = {}
        if not quiet and sys.stderr.isatty():
            self._bar = RichBar(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )

    def __enter__(self) -> CliProgress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def start(self, task: str, total: int | None) -> None:
        if self._bar is not None:
            self._tasks[task] = self._bar.add_task(task, total=total)

    def advance(self, task: str, n: int = 1) -> None:
        if self._bar is not None and task in self._tasks:
            self._bar.advance(self._tasks[task], n)

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self.console.print(f"[yellow]warning:[/yellow] {message}", highlight=False, markup=True)

    def log(self, message: str) -> None:
        self.console.print(message, highlight=False, markup=False)
