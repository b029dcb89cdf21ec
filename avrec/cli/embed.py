"""`avrec embed`."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from avrec.cli.app import settings_of
from avrec.cli.common import open_store, report_dict
from avrec.cli.output import Format, emit_object, resolve
from avrec.cli.progress import CliProgress
from avrec.errors import PartialFailureError, UsageError
from avrec.store import MODALITIES


def register(app: typer.Typer) -> None:
    app.command("embed")(embed)


def embed(
    ctx: typer.Context,
    modality: Annotated[
        list[str] | None,
        typer.Option("--modality", "-m", help="Only this modality: text, visual or audio (repeatable)."),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Frames or texts per model batch.")] = 32,
    max_frames: Annotated[int, typer.Option("--max-frames", min=1, help="Frames sampled per video at most.")] = 16,
    clip_model: Annotated[
        str | None, typer.Option("--clip-model", help="open_clip architecture [env AVREC_CLIP_MODEL, ViT-B-32].")
    ] = None,
    clip_pretrained: Annotated[
        str | None, typer.Option("--clip-pretrained", help="open_clip pretrained tag found in the local cache.")
    ] = None,
    clip_weights: Annotated[
        str | None, typer.Option("--clip-weights", help="Local CLIP checkpoint file [env AVREC_CLIP_WEIGHTS].")
    ] = None,
    visual_model: Annotated[
        str | None,
        typer.Option(
            "--visual-model",
            help="auto (CLIP if weights, else ImageNet EfficientNet-Lite0, else descriptors), clip, imagenet or "
            "descriptors [env AVREC_VISUAL_MODEL].",
        ),
    ] = None,
    audio_model: Annotated[
        str | None,
        typer.Option("--audio-model", help="auto (aisfx if installed), aisfx or acoustic [env AVREC_AUDIO_MODEL]."),
    ] = None,
    shots: Annotated[
        str | None,
        typer.Option(
            "--shots",
            help="Shot boundaries: auto (TransNetV2 on a CUDA GPU, else the ffmpeg scene score), transnet "
            "(TransNetV2 on any device; slow on a CPU) or scene [env AVREC_SHOTS].",
        ),
    ] = None,
    text_model: Annotated[
        str | None,
        typer.Option("--text-model", help="sentence-transformers model path or name [env AVREC_TEXT_MODEL]."),
    ] = None,
    whisper_model: Annotated[
        str | None, typer.Option("--whisper-model", help="CTranslate2 Whisper model dir [env AVREC_WHISPER_MODEL].")
    ] = None,
    output_format: Annotated[Format | None, typer.Option("--format", "-f", help="Summary format.")] = None,
) -> None:
    """Compute content vectors for every item that lacks one for the current encoders (resumable)."""
    from avrec.embed import embed as run_embed

    settings = settings_of(ctx)
    chosen = set(modality or MODALITIES)
    unknown = chosen - set(MODALITIES)
    if unknown:
        raise UsageError(f"unknown modality {sorted(unknown)[0]!r}; choose from {', '.join(MODALITIES)}")
    overrides: dict[str, str | None] = {
        "clip_model": clip_model,
        "clip_pretrained": clip_pretrained,
        "clip_weights": clip_weights,
        "visual_model": visual_model,
        "audio_model": audio_model,
        "shots": shots,
        "text_model": text_model,
        "whisper_model": whisper_model,
    }
    settings = dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    with open_store(settings) as store, CliProgress(settings.quiet) as progress:
        report = run_embed(
            store, settings, modalities=sorted(chosen), progress=progress, batch_size=batch_size, max_frames=max_frames
        )
    fmt = resolve(output_format, piped_default=Format.json)
    if fmt is Format.table:
        if not settings.quiet:
            typer.echo(report.summary(), err=True)
    else:
        emit_object(report_dict(report), fmt)
    if report.failures:
        raise PartialFailureError([f"{where}: {message}" for where, message in report.failures])
