"""Transcriber entrypoint: speech and on-screen text per shot, behind Kafka."""

from __future__ import annotations

from pydantic import Field

from services.transcriber.handler import SERVICE, TranscribeHandler
from shotline import topics
from shotline.blobstore import open_blob_store
from shotline.settings import Settings
from shotline.speech.asr import AsrConfig, SpeechRecognizer
from shotline.speech.ocr import OcrConfig, TextReader
from shotline.stores import shot_text_index
from shotline.video.sources import SourceConfig
from shotline.worker import run_service


class TranscriberSettings(Settings):
    service_name: str = SERVICE
    batch_max_records: int = Field(1, ge=1)   # a chunk can hold minutes of speech
    speech: bool = True                       # SHOTLINE_SPEECH=false: on-screen text only
    on_screen_text: bool = True
    asr_model_dir: str = ""                   # a CTranslate2 Whisper dir; "" = packaged tiny.en
    asr_device: str = Field("auto", pattern="^(auto|cpu|cuda)$")
    asr_compute_type: str = "auto"
    asr_cpu_threads: int = Field(0, ge=0, le=64)
    asr_beam_size: int = Field(1, ge=1, le=10)
    ocr_min_confidence: float = Field(0.7, ge=0, le=1)
    max_audio_seconds: float = Field(4 * 3600, gt=0)


def main() -> None:
    s = TranscriberSettings()
    blobs = open_blob_store(s)  # keyframes and uploads are read, extracted audio kept here
    sources = SourceConfig.from_settings(s, blobs=blobs)
    index = shot_text_index(s)
    index.ensure_collection()  # fails here, loudly, on a Milvus without full-text search
    asr = SpeechRecognizer(AsrConfig(model_dir=s.asr_model_dir, device=s.asr_device,
                                     compute_type=s.asr_compute_type, cpu_threads=s.asr_cpu_threads,
                                     beam_size=s.asr_beam_size)) if s.speech else None
    ocr = TextReader(OcrConfig(min_confidence=s.ocr_min_confidence)) if s.on_screen_text else None
    handler = TranscribeHandler(s, blobs, sources, index, asr, ocr, s.max_audio_seconds)
    run_service(s, SERVICE, topics.SUBSCRIPTIONS[SERVICE], handler)
