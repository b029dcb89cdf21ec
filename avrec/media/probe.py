"""Probing media files with PyAV (no ffprobe needed): duration, streams, codecs, and a decode check."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avrec.errors import MediaError

#: Containers that hold a single still picture rather than a moving image.
IMAGE_FORMATS = frozenset(
    {
        "image2",
        "png_pipe",
        "jpeg_pipe",
        "webp_pipe",
        "bmp_pipe",
        "gif_pipe",
        "tiff_pipe",
        "jpegls_pipe",
        "pam_pipe",
        "ppm_pipe",
        "pgm_pipe",
        "qoi_pipe",
        "j2k_pipe",
    }
)
IMAGE_CODECS = frozenset({"png", "mjpeg", "webp", "bmp", "tiff", "jpegls", "jpeg2000", "ppm", "pgm", "qoi"})


@dataclass
class StreamInfo:
    """One stream of a media file, as PyAV reports it."""

    index: int
    type: str
    codec: str | None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    frames: int | None = None
    sample_rate: int | None = None
    channels: int | None = None


@dataclass
class ProbeResult:
    """What a media file holds. `kind` is video, audio or image."""

    path: Path
    container: str
    duration: float | None
    kind: str
    streams: list[StreamInfo] = field(default_factory=list)

    @property
    def video(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.type == "video"), None)

    @property
    def audio(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.type == "audio"), None)

    @property
    def has_video(self) -> bool:
        return self.video is not None

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary, stored with the media record."""
        return {
            "container": self.container,
            "duration": self.duration,
            "kind": self.kind,
            "streams": [{k: v for k, v in vars(s).items() if v is not None} for s in self.streams],
        }


def probe(path: Path | str, *, verify: bool = True) -> ProbeResult:
    """Open `path` with PyAV and describe it.

    With `verify`, also decode the first frame of the first video and audio streams and check that the
    data near the end of the file is still there, so zero-length, truncated and non-media files fail
    here with a clear message instead of later in `embed`. Raises MediaError naming the file.
    """
    import av

    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise MediaError(f"{path}: cannot read file: {exc.strerror or exc}") from None
    if not path.is_file():
        raise MediaError(f"{path}: not a regular file")
    if size == 0:
        raise MediaError(f"{path}: zero-length file (empty), not media")
    try:
        # pattern_type none: `x%d.jpg` is this one file, not the image sequence x1.jpg, x2.jpg ...
        container = av.open(str(path), mode="r", metadata_errors="ignore", options={"pattern_type": "none"})
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: not a media file ffmpeg can read ({_av_message(exc)})") from None
    try:
        result = _describe(path, container)
        if verify:
            _verify(path, container, result)
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: cannot decode ({_av_message(exc)})") from None
    finally:
        container.close()
    return result


def _describe(path: Path, container: Any) -> ProbeResult:
    streams: list[StreamInfo] = []
    for s in container.streams:
        if s.type not in ("video", "audio") or _is_cover_art(s):
            continue
        cc = s.codec_context
        duration = float(s.duration * s.time_base) if s.duration is not None and s.time_base else None
        info = StreamInfo(index=s.index, type=s.type, codec=getattr(cc, "name", None), duration=duration)
        if s.type == "video":
            info.width = int(cc.width) or None
            info.height = int(cc.height) or None
            rate = s.average_rate or s.guessed_rate
            info.fps = float(rate) if rate else None
            info.frames = int(s.frames) or None
        else:
            info.sample_rate = int(cc.sample_rate) or None
            info.channels = int(getattr(cc, "channels", 0) or 0) or None
        streams.append(info)
    if not streams:
        raise MediaError(f"{path}: holds no audio or video stream")
    fmt = container.format.name.split(",")[0]
    duration = container.duration / 1_000_000 if container.duration else None
    if duration is None or not math.isfinite(duration) or duration <= 0:
        durations = [s.duration for s in streams if s.duration]
        duration = max(durations) if durations else None
    video = next((s for s in streams if s.type == "video"), None)
    audio = next((s for s in streams if s.type == "audio"), None)
    if (
        video is not None
        and audio is None
        and (fmt in IMAGE_FORMATS or (video.codec in IMAGE_CODECS and (video.frames or 1) <= 1))
    ):
        kind = "image"
        duration = None
    elif video is not None:
        kind = "video"
    else:
        kind = "audio"
    return ProbeResult(path=path, container=fmt, duration=duration, kind=kind, streams=streams)


def _verify(path: Path, container: Any, result: ProbeResult) -> None:
    """Decode a frame from the start of each kind of stream, then look for data near the end."""
    import av

    for info in (result.video, result.audio):
        if info is None:
            continue
        stream = container.streams[info.index]
        if _first_frame(container, stream) is None:
            raise MediaError(f"{path}: its {info.type} stream ({info.codec}) holds no decodable frame")
        if result.kind != "image":
            container.seek(0)
    if result.kind == "image" or not result.duration or result.duration < 2.0:
        return
    # A file cut short keeps its header (so it opens and its first frames decode) but its last
    # seconds are gone: seek near the promised end and demand a decodable frame there.
    info = result.video or result.audio or result.streams[0]
    stream = container.streams[info.index]
    target = max(0.0, result.duration - 1.5)
    try:
        container.seek(int(target * 1_000_000), any_frame=False, backward=True)
    except av.FFmpegError:
        raise MediaError(
            f"{path}: truncated? cannot seek to {target:.1f}s of {result.duration:.1f}s"
        ) from None
    last = None
    for packet in container.demux(stream):
        if packet.pts is not None and packet.time_base is not None:
            last = float(packet.pts * packet.time_base)
        try:
            for _ in packet.decode():
                pass
        except av.FFmpegError:
            continue
    start = float(stream.start_time * stream.time_base) if stream.start_time and stream.time_base else 0.0
    if last is None or last - start < result.duration * 0.75 - 1.0:
        seen = "no data" if last is None else f"data only up to {last - start:.1f}s"
        raise MediaError(
            f"{path}: truncated or damaged: header promises {result.duration:.1f}s but there is {seen}"
        )


def _is_cover_art(stream: Any) -> bool:
    """An album cover inside an audio file is a picture, not a video stream."""
    import av

    flag = getattr(getattr(av.stream, "Disposition", None), "attached_pic", None)
    disposition = getattr(stream, "disposition", None)
    return flag is not None and disposition is not None and bool(disposition & flag)


def _first_frame(container: Any, stream: Any) -> Any:
    import av

    packets = 0
    for packet in container.demux(stream):
        packets += 1
        try:
            frames = packet.decode()
        except av.FFmpegError:
            frames = []
        if frames:
            return frames[0]
        if packets > 200:
            break
    return None


def _av_message(exc: Exception) -> str:
    strerror = getattr(exc, "strerror", None)
    return str(strerror or exc).strip()
