"""The scorer and the transcriber's text: whichever of "video complete" and "video transcribed"
comes first, and however they interleave, the stored categories end up reading the transcript."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from services.scorer.categories import RealtimeCategories
from shotline.categories.service import CategoryResult
from shotline.events import new_meta
from shotline.settings import Settings
from shotline.taxonomy import load_taxonomy
from shotline.v1 import events_pb2


class Registry:
    """The read-model calls the scorer makes, in a dict."""

    def __init__(self) -> None:
        self.docs: dict[str, dict] = {}
        self.spoken: dict[str, dict] = {}
        self.text: dict[str, dict] = {}

    def set_video_categories(self, vid: str, doc: dict) -> None:
        self.docs[vid] = doc

    def video_categories(self, vid: str) -> dict | None:
        return self.docs.get(vid)

    def set_video_spoken(self, vid: str, doc: dict) -> None:
        self.spoken[vid] = doc

    def video_spoken(self, vid: str) -> dict:
        return self.spoken.get(vid, {})

    def set_video_text(self, vid: str, doc: dict) -> None:
        self.text[vid] = doc

    def videos_category_labels(self, vids: list[str]) -> dict:
        return {}


class Service:
    """A category model that records the text sources it was given; ``during`` runs mid-call."""

    def __init__(self) -> None:
        self.tax = load_taxonomy()
        self.seen: list[list[str]] = []
        self.during: Any = None

    def classify(self, video_id: str, vectors: Any, text: Any, duration_ms: int = 0, catalog_id: str = "") -> CategoryResult:
        self.seen.append(sorted(text.sources()))
        if self.during:
            self.during, during = None, self.during
            during()
        return CategoryResult(video_id, [], self.tax.version, {"categories": "c1"})


INDEX = SimpleNamespace(dims={"joint": 4}, pk_of=lambda v, i: i, get=lambda pks, heads: [])


def complete(upload: str = "u1") -> events_pb2.ShotsIndexed:
    ev = events_pb2.ShotsIndexed(meta=new_meta("v", "test"), upload_id=upload, total_shots=0, video_complete=True)
    ev.text.title = "my holiday"
    return ev


def transcribed(upload: str = "u1", said: str = "the cat is purring") -> events_pb2.VideoTranscribed:
    return events_pb2.VideoTranscribed(meta=new_meta("v", "test"), upload_id=upload, transcript=said,
                                       on_screen_text="CATS")


def scorer() -> tuple[RealtimeCategories, Registry, Service, list]:
    reg, svc, calls = Registry(), Service(), []
    rt = RealtimeCategories(Settings(), svc, INDEX, reg)  # type: ignore[arg-type]
    return rt, reg, svc, calls


def reclassify_with(rt: RealtimeCategories, calls: list, upload: str = "u1"):  # type: ignore[no-untyped-def]
    def again(vids: list[str]) -> list:
        calls.append(vids)
        rt(complete(upload))  # what the backfill's classify does: from the stored state
        return []
    return again


def test_transcript_first_is_read_when_the_video_completes() -> None:
    rt, reg, svc, calls = scorer()
    assert rt.transcribed(transcribed(), reclassify_with(rt, calls)) == [] and calls == []
    rt(complete())
    assert svc.seen == [["metadata", "on_screen", "speech"]]
    assert reg.docs["v"]["text_sources"] == ["metadata", "on_screen", "speech"]


def test_transcript_after_the_categories_reclassifies_once() -> None:
    rt, reg, svc, calls = scorer()
    rt(complete())
    assert reg.docs["v"]["text_sources"] == ["metadata"]
    rt.transcribed(transcribed(), reclassify_with(rt, calls))
    assert calls == [["v"]] and reg.docs["v"]["text_sources"] == ["metadata", "on_screen", "speech"]
    rt.transcribed(transcribed(), reclassify_with(rt, calls))  # redelivered: nothing new to read
    assert calls == [["v"]]


def test_transcript_landing_mid_classification_is_not_lost() -> None:
    rt, reg, svc, calls = scorer()
    # the transcriber's event is handled while the complete video is being classified: it finds no
    # categories yet (so it only keeps the text); the complete path must look again after writing
    svc.during = lambda: rt.transcribed(transcribed(), reclassify_with(rt, calls))
    rt(complete())
    assert calls == [] and svc.seen == [["metadata"], ["metadata", "on_screen", "speech"]]
    assert reg.docs["v"]["text_sources"] == ["metadata", "on_screen", "speech"]


def test_another_uploads_transcript_is_never_read() -> None:
    rt, reg, svc, calls = scorer()
    rt.transcribed(transcribed(upload="old"), reclassify_with(rt, calls))
    rt(complete(upload="new"))
    assert svc.seen == [["metadata"]] and np.array_equal(reg.docs["v"]["text_sources"], ["metadata"])
    rt.transcribed(transcribed(upload="new", said=""), reclassify_with(rt, calls, "new"))  # on-screen text only
    assert calls == [["v"]] and reg.docs["v"]["text_sources"] == ["metadata", "on_screen"]
