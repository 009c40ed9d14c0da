"""shots-segmented → what is said and shown in each shot → the text index (Milvus BM25).

A stage of its own (consumer group ``transcriber``) beside the encoder, so a slow speech model
never delays visual indexing. Per chunk of shots:
1. the upload's audio, extracted once per upload from the source (16 kHz mono Ogg/Opus, kept in
   the blob store under ``audio/<video>/<upload>.ogg`` with a JSON note beside it), so later
   chunks and redeliveries read it back instead of fetching the video again;
2. speech over the chunk's time span (with a second of context either side, so words at the
   edges are heard whole) → words → the shot holding each word's midpoint;
3. on-screen text read from each shot's keyframes;
4. one row per shot upserted into the text index (a shot with nothing said or shown gets an
   empty row, so it overwrites what an older upload said there), and rows an older upload left
   beyond this one's shots deleted.
5. once every shot of the upload has its row (whichever chunk completes the set, retries
   included), ``videos.transcribed`` carries all that is said and shown in it, in time order, to
   the scorer, whose category models read it as text sources.
Idempotent: the same chunk gives the same rows under the same keys (and a repeated
``videos.transcribed`` re-states the same text).

A video without an audio track simply gets no transcript. An audio track that cannot be decoded
is reported once per upload as a ``ProcessingError`` (reason ``bad_audio``) and the shots still
get their on-screen text; nothing else about the video changes.
"""

from __future__ import annotations

import io
import json
import time

import numpy as np
from kafka.consumer.fetcher import ConsumerRecord
from PIL import Image
from prometheus_client import Counter, Histogram

from shotline import logs, topics
from shotline.blobstore import BlobStore
from shotline.errors import BadInput
from shotline.events import new_meta, parse, validate_video_id
from shotline.index.text_index import MAX_TEXT, ShotText, ShotTextIndex, TextHit, Word, clip
from shotline.settings import Settings
from shotline.speech.asr import SpeechRecognizer
from shotline.speech.ocr import TextReader, merged_readings
from shotline.speech.shots import assign
from shotline.v1 import common_pb2, events_pb2
from shotline.video import audio
from shotline.video.sources import SourceConfig, open_source
from shotline.worker import Output

SERVICE = "transcriber"
log = logs.get(SERVICE)

CONTEXT_MS = 1000  # audio either side of a chunk's span, so edge words are decoded whole
SHOTS = Counter("shotline_transcriber_shots_total", "Shots transcribed and read")
WORDS = Counter("shotline_transcriber_words_total", "Words found", ["source"])
AUDIO_SECONDS = Counter("shotline_transcriber_audio_seconds_total", "Seconds of audio run through speech recognition")
ASR_SECONDS = Histogram("shotline_transcriber_asr_duration_seconds", "Speech recognition time per chunk",
                        buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
OCR_FRAMES = Counter("shotline_transcriber_ocr_frames_total", "Keyframes looked at for text", ["outcome"])
OCR_SECONDS = Histogram("shotline_transcriber_ocr_duration_seconds", "On-screen text time per chunk",
                        buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
AUDIO_TRACKS = Counter("shotline_transcriber_audio_tracks_total", "Uploads' audio extracted", ["outcome"])


def audio_key(video_id: str, upload_id: str, ext: str) -> str:
    return f"audio/{video_id}/{upload_id}.{ext}"


class TranscribeHandler:
    def __init__(self, settings: Settings, blobs: BlobStore, sources: SourceConfig, text_index: ShotTextIndex,
                 asr: SpeechRecognizer | None, ocr: TextReader | None, max_audio_seconds: float = 4 * 3600.0):
        self.blobs = blobs
        self.sources = sources
        self.index = text_index
        self.asr = asr
        self.ocr = ocr
        self.max_audio_seconds = max_audio_seconds
        self.errors_topic = settings.topic(topics.ERRORS)
        self.transcribed_topic = settings.topic(topics.VIDEOS_TRANSCRIBED)
        self.model = "+".join(m.model_name for m in (asr, ocr) if m is not None)

    def handle(self, record: ConsumerRecord) -> list[Output]:
        ev = parse(events_pb2.ShotsSegmented, record.value)
        video_id = validate_video_id(ev.meta.video_id)
        if not ev.upload_id:
            raise BadInput("malformed_event", "shots-segmented event has no upload id")
        outputs: list[Output] = []
        shots = sorted(ev.shots, key=lambda s: s.start_ms)
        for s in shots:
            if s.end_ms < s.start_ms or s.index >= max(ev.total_shots, 1):
                raise BadInput("bad_shot", f"shot {s.shot_id}: times {s.start_ms}..{s.end_ms}, index {s.index}")
        spoken: list[list[Word]] = [[] for _ in shots]
        if shots and self.asr is not None and ev.source_uri:
            track, problem = self._audio(video_id, ev)
            if problem:
                outputs.append(self._reported(record, ev, problem))
            if track is not None:
                spoken = self._speech(track, shots)
        shown = self._on_screen(shots)
        now = int(time.time() * 1000)
        rows = [ShotText(video_id=video_id, shot_index=s.index, start_ms=s.start_ms, end_ms=s.end_ms,
                         catalog_id=ev.catalog_id, video_version=ev.upload_id, ingest_ms=now, model=self.model,
                         keyframe_ref=s.keyframe_refs[len(s.keyframe_refs) // 2] if s.keyframe_refs else "",
                         words=said + seen)
                for s, said, seen in zip(shots, spoken, shown, strict=True)]
        self.index.upsert(rows)
        self.index.drop_beyond(video_id, ev.total_shots)
        SHOTS.inc(len(rows))
        stored = self.index.video(video_id, ev.upload_id)
        if len({h.shot_index for h in stored}) >= ev.total_shots:
            outputs.append(self._transcribed(ev, stored))
        return outputs

    def _transcribed(self, ev: events_pb2.ShotsSegmented, stored: list[TextHit]) -> Output:
        """The upload's whole text: speech in time order, on-screen words once per shot."""
        msg = events_pb2.VideoTranscribed(
            meta=new_meta(ev.meta.video_id, SERVICE, ev.meta.trace_id), upload_id=ev.upload_id,
            total_shots=ev.total_shots, model=self.model,
            transcript=clip(" ".join(h.transcript for h in stored if h.transcript), MAX_TEXT),
            on_screen_text=clip(" ".join(h.on_screen for h in stored if h.on_screen), MAX_TEXT))
        return Output.event(self.transcribed_topic, ev.meta.video_id, msg)

    # -- speech ----------------------------------------------------------------------------
    def _audio(self, video_id: str, ev: events_pb2.ShotsSegmented) -> tuple[bytes | None, str]:
        """The upload's extracted audio (None: none usable) and, the first time only, what went
        wrong with it."""
        note_key = audio_key(video_id, ev.upload_id, "json")
        if self.blobs.exists(note_key):
            note = json.loads(self.blobs.get(note_key))
            return (self.blobs.get(audio_key(video_id, ev.upload_id, "ogg")) if note.get("audio") else None), ""
        try:
            with open_source(ev.source_uri, self.sources) as path:
                got = audio.extract(path, self.max_audio_seconds)
        except BadInput as exc:  # the source is gone or refused: the shots keep their on-screen text
            got = audio.Extracted(None, audio.SAMPLE_RATE, 0, "", f"source unreadable: {exc.message}")
        if got.data is not None:
            self.blobs.put(audio_key(video_id, ev.upload_id, "ogg"), got.data)
        self.blobs.put(note_key, json.dumps({"audio": got.data is not None, "codec": got.codec,
                                             "duration_ms": got.duration_ms, "error": got.error}).encode())
        AUDIO_TRACKS.labels("bad" if got.error else "ok" if got.data is not None else "none").inc()
        if got.error:
            log.warning("audio track unusable", video_id=video_id, error=got.error)
        return got.data, got.error

    def _speech(self, track: bytes, shots: list[common_pb2.Shot]) -> list[list[Word]]:
        assert self.asr is not None
        lo = max(0, shots[0].start_ms - CONTEXT_MS)
        hi = shots[-1].end_ms + CONTEXT_MS
        t0 = time.perf_counter()
        pcm = audio.read_span(track, lo, hi)
        words = self.asr.words(pcm, offset_ms=lo) if np.any(pcm) else []
        ASR_SECONDS.observe(time.perf_counter() - t0)
        AUDIO_SECONDS.inc(pcm.size / audio.SAMPLE_RATE)
        WORDS.labels("speech").inc(len(words))
        return assign(words, [s.start_ms for s in shots], [s.end_ms for s in shots])

    # -- on-screen text ----------------------------------------------------------------------
    def _on_screen(self, shots: list[common_pb2.Shot]) -> list[list[Word]]:
        if self.ocr is None:
            return [[] for _ in shots]
        t0 = time.perf_counter()
        out = []
        for s in shots:
            readings: list[list[Word]] = []
            for k, ref in enumerate(s.keyframe_refs):
                at = s.keyframe_ms[k] if k < len(s.keyframe_ms) else s.start_ms
                try:
                    rgb = np.asarray(Image.open(io.BytesIO(self.blobs.get(ref))).convert("RGB"))
                except (KeyError, OSError, BadInput) as exc:  # a lost keyframe costs its text only
                    OCR_FRAMES.labels("unreadable").inc()
                    log.warning("keyframe unreadable", ref=ref, error=str(exc))
                    continue
                words = self.ocr.words(rgb, at)
                OCR_FRAMES.labels("read" if words else "no_text").inc()
                readings.append(words)
            shown = merged_readings(readings)
            out.append(shown)
            WORDS.labels("on_screen").inc(len(shown))
        OCR_SECONDS.observe(time.perf_counter() - t0)
        return out

    def _reported(self, record: ConsumerRecord, ev: events_pb2.ShotsSegmented, problem: str) -> Output:
        err = events_pb2.ProcessingError(
            meta=new_meta(ev.meta.video_id, SERVICE, ev.meta.trace_id), service=SERVICE, reason="bad_audio",
            message=f"upload {ev.upload_id}: no transcript: {problem}"[:2000],
            source_topic=record.topic, source_partition=record.partition, source_offset=record.offset)
        return Output.event(self.errors_topic, ev.meta.video_id, err)
