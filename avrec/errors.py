"""One error hierarchy. Every message names the file, line or id at fault and says what to do next."""

from __future__ import annotations


class AvrecError(Exception):
    """Base of every error avrec reports to its user (exit code 1)."""

    exit_code = 1
    #: The library parameter the message starts with (``holdout``, ``plot``), if it is about one: a front
    #: end names its own option for it there (the command line says ``--holdout``).
    param: str | None = None

    def __init__(self, *args: object, param: str | None = None) -> None:
        super().__init__(*args)
        self.param = param

    def lines(self) -> list[str]:
        """What the command line prints, one `avrec: error:` line each."""
        return [str(self)]


class UsageError(AvrecError):
    """The command was called wrongly (exit code 2)."""

    exit_code = 2


class StoreError(AvrecError):
    """The store cannot be opened, migrated or written."""


class StoreLockedError(StoreError):
    """Another avrec process holds the store's writer lock."""


class InputError(AvrecError):
    """A catalog, log or media file holds data avrec cannot use."""


class MediaError(InputError):
    """A media file cannot be probed or decoded."""


class UnknownIdError(AvrecError):
    """A user or item id is not in the store or the model."""


class ModelError(AvrecError):
    """No model is fitted, or a model file cannot be used."""


class ModelFileError(ModelError, ValueError):
    """A model file is damaged, cut short or not an avrec model (a ValueError too, for library callers)."""


class EncoderError(AvrecError):
    """An encoder (CLIP, SBERT, Whisper) cannot be loaded or run."""


class PartialFailureError(AvrecError):
    """A run that did what it could and failed for some inputs (files, items, users), each named in `failures`.

    Raised after the successful part was stored or printed, so a cron job still notices (exit code 1).
    """

    def __init__(self, failures: list[str], summary: str = "") -> None:
        self.failures = list(failures)
        self.summary = summary
        super().__init__(summary or (self.failures[0] if self.failures else "partial failure"))

    def lines(self) -> list[str]:
        return [*self.failures, *([self.summary] if self.summary else [])]
