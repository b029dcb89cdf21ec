"""What the passes of one `embed` run share: the report, the run's state and helpers, decoding ahead."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from avrec.config import Settings
from avrec.errors import AvrecError
from avrec.progress import Progress
from avrec.store import MODALITIES, MediaRecord, Store

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class EmbedReport:
    """What one `embed` run did. `failures` are (item id, message naming the file) of skipped items."""

    vectors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MODALITIES, 0))
    up_to_date: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MODALITIES, 0))
    frames: int = 0
    transcripts: int = 0
    with_speech: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        """One line for people."""
        done = ", ".join(f"{m} {n}" for m, n in self.vectors.items())
        same = sum(self.up_to_date.values())
        text = (
            f"embed: new vectors: {done}; {self.frames} frames, {self.transcripts} transcripts "
            f"({self.with_speech} with speech); {same} already up to date; {self.seconds:.1f}s"
        )
        if self.failures:
            text += f"; {len(self.failures)} item(s) skipped"
        return text

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly form for `--format json`."""
        return {
            "vectors": dict(self.vectors),
            "up_to_date": dict(self.up_to_date),
            "frames": self.frames,
            "transcripts": self.transcripts,
            "with_speech": self.with_speech,
            "failures": [{"item_id": i, "message": m} for i, m in self.failures],
            "warnings": list(self.warnings),
            "models": dict(self.models),
            "seconds": round(self.seconds, 3),
        }


def current_models(settings: Settings) -> dict[str, str]:
    """The model id each modality would be encoded with now (no model is loaded)."""
    from avrec.encoders import audio_model_id, visual_model_id
    from avrec.encoders.speech import resolve_whisper_model
    from avrec.encoders.text import resolve_text_model

    try:
        whisper = resolve_whisper_model(settings.whisper_model)[1]
    except AvrecError:
        whisper = ""
    return {
        "text": resolve_text_model(settings.text_model)[1],
        "visual": visual_model_id(settings),
        "audio": audio_model_id(settings),
        "speech": whisper,
    }


@dataclass
class Decoded:
    media: MediaRecord
    payload: Any = None
    error: str | None = None


class RunBase:
    """What every pass shares: the store, settings, progress, report and run options; the device; warnings
    and failures."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        progress: Progress,
        report: EmbedReport,
        *,
        batch_size: int,
        max_frames: int,
        workers: int,
        scene_threshold: float,
    ) -> None:
        self.store = store
        self.settings = settings
        self.progress = progress
        self.report = report
        self.batch_size = batch_size
        self.max_frames = max_frames
        self.workers = workers
        self.scene_threshold = scene_threshold
        self.models = current_models(settings)
        self._device: str | None = None

    # -- shared helpers ---------------------------------------------------------------------------

    @property
    def device(self) -> str:
        if self._device is None:
            from avrec.encoders.base import resolve_device, set_threads

            set_threads(self.settings.threads)
            self._device = resolve_device(self.settings.device)
        return self._device

    def warn(self, message: str) -> None:
        self.report.warnings.append(message)
        self.progress.warn(message)

    def fail(self, item_id: str, message: str) -> None:
        # Not echoed through progress: the caller reports failures (the CLI prints each one once).
        self.report.failures.append((item_id, message))

    def _check_file(self, media: MediaRecord) -> str | None:
        try:
            st = os.stat(media.path)
        except OSError:
            return f"{media.path}: file no longer exists; ingest it again from where it is now"
        if st.st_size != media.size or abs(st.st_mtime - media.mtime) > 1e-3:
            return f"{media.path}: changed since it was ingested; run `avrec ingest media` on it again"
        return None


class Prefetch(Generic[T, R]):
    """`map(fn, items)` in order, with up to `ahead` calls running in background threads.

    Decoding (ffmpeg subprocesses, I/O) happens in the workers while the caller runs the model;
    `next_ready()` tells the caller whether the next result is already there (else it may compute now).
    """

    def __init__(self, fn: Callable[[T], R], items: Iterable[T], workers: int, ahead: int) -> None:
        self.fn = fn
        self.items = items
        self.workers = workers
        self.ahead = ahead
        self._pending: deque[Future[R]] = deque()

    def next_ready(self) -> bool:
        return bool(self._pending) and self._pending[0].done()

    def __iter__(self) -> Iterator[R]:
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="avrec-decode")
        pending = self._pending
        source = iter(self.items)
        try:
            for item in source:
                pending.append(pool.submit(self.fn, item))
                if len(pending) >= self.ahead:
                    break
            while pending:
                result = pending.popleft().result()
                nxt = next(source, _END)
                if nxt is not _END:
                    pending.append(pool.submit(self.fn, nxt))  # type: ignore[arg-type]
                yield result
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def prefetch(fn: Callable[[T], R], items: Iterable[T], workers: int, ahead: int) -> Iterator[R]:
    """`map(fn, items)` in order, decoding ahead in background threads (see `Prefetch`)."""
    return iter(Prefetch(fn, items, workers, ahead))


_END = object()
