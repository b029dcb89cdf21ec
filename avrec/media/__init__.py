"""Media I/O: probing with PyAV, frame sampling and audio decoding with ffmpeg (argument lists only)."""

from avrec.media.audio import SAMPLE_RATE, decode_audio
from avrec.media.ffmpeg import ffmpeg_exe, input_url
from avrec.media.frames import FrameSample, SampledFrame, load_image, sample_frames, thumbnail_jpeg
from avrec.media.probe import ProbeResult, StreamInfo, probe

__all__ = [
    "SAMPLE_RATE",
    "FrameSample",
    "ProbeResult",
    "SampledFrame",
    "StreamInfo",
    "decode_audio",
    "ffmpeg_exe",
    "input_url",
    "load_image",
    "probe",
    "sample_frames",
    "thumbnail_jpeg",
]
