"""The CLI's `Progress`: a Rich bar on stderr when it is a terminal; warnings on stderr unless --quiet.

Rich is imported only when something is drawn or printed, so commands run from scripts start faster.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


class CliProgress:
    def __init__(self, quiet: bool = False, *, bar: bool = True) -> None:
        self.quiet = quiet
        self.warnings: list[str] = []
        self._console: Console | None = None
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}
        if bar and not quiet and sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichBar

            self._bar = RichBar(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, quiet=self.quiet)
        return self._console

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
        if not self.quiet:
            from rich.markup import escape  # file names may hold `[...]`, which is not markup

            from avrec.cli.output import plain

            self.console.print(f"[yellow]warning:[/yellow] {escape(plain(message))}", highlight=False, markup=True)
