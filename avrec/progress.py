"""How library code reports progress without printing: the caller passes a `Progress` (the CLI's draws a
Rich bar on stderr); the default does nothing."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, task: str, total: int | None) -> None: ...

    def advance(self, task: str, n: int = 1) -> None: ...

    def warn(self, message: str) -> None: ...


class NullProgress:
    """Reports nowhere; warnings are collected so the caller can still show them."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def start(self, task: str, total: int | None) -> None:
        pass

    def advance(self, task: str, n: int = 1) -> None:
        pass

    def warn(self, message: str) -> None:
        self.warnings.append(message)
