"""Hear and read, on the real stack: footage with known speech and burnt-in titles is uploaded
through UploadVideo, and what was said and shown is found through SearchText.

Expected answers come from the fixture's own truth file (``speech_montage.json``: the sentences
espeak-ng spoke and the titles ffmpeg drew, with their times), never from the services under test:
a hit is right when its shot's time span holds the sentence's (or title's) midpoint.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from shotline.stack import local
from shotline.v1 import events_pb2, query_pb2, query_pb2_grpc

from .conftest import wait_for
from .test_console import OUT, base_url, page  # noqa: F401 - the browser and the console's address
from .test_pipeline import FIXTURES, Topic, query, services  # noqa: F401 - module fixtures

pytestmark = pytest.mark.integration

TRUTH = json.loads((FIXTURES / "speech_montage.json").read_text()) if (FIXTURES / "speech_montage.json").exists() else {}
RUN = uuid.uuid4().hex[:6]
MONTAGE, SILENT, CORRUPT = f"speech-{RUN}", f"silent-{RUN}", f"badaudio-{RUN}"
CATALOG = f"speech-{RUN}"  # searches below stay inside this module's uploads
FILES = {MONTAGE: "speech_montage.mp4", SILENT: "speech_silent.mp4", CORRUPT: "speech_corrupt_audio.mkv"}


def _upload(stub: query_pb2_grpc.QueryServiceStub, video_id: str, path: Path) -> str:
    def parts() -> Iterator[query_pb2.UploadVideoRequest]:
        yield query_pb2.UploadVideoRequest(metadata=query_pb2.UploadVideoMetadata(
            video_id=video_id, catalog_id=CATALOG, filename=path.name))  # title = the file name: words come from the video
        yield query_pb2.UploadVideoRequest(chunk=path.read_bytes())
    return stub.UploadVideo(parts(), timeout=120).upload_id


def _search(stub: query_pb2_grpc.QueryServiceStub, text: str, mode: int = query_pb2.SEARCH_MODE_HYBRID,
            top_k: int = 5) -> query_pb2.SearchResponse:
    return stub.SearchText(query_pb2.SearchTextRequest(
        query=text, top_k=top_k, mode=mode, filters=query_pb2.SearchFilters(catalog_ids=[CATALOG])), timeout=60)


def _holds(hit: query_pb2.ShotHit, span: dict) -> bool:
    mid = (span["start_ms"] + span["end_ms"]) // 2
    return hit.shot.video_id == MONTAGE and hit.shot.start_ms <= mid < hit.shot.end_ms


@pytest.fixture(scope="module")
def transcribed(stack: local.Endpoints, query: query_pb2_grpc.QueryServiceStub) -> dict[str, str]:  # noqa: F811
    indexed = Topic(stack, "shotline.shots.indexed", events_pb2.ShotsIndexed)
    uploads = {vid: _upload(query, vid, FIXTURES / name) for vid, name in FILES.items()}

    def complete() -> bool:
        done = {m.meta.video_id for m in indexed.where(lambda m: m.video_complete and uploads.get(m.meta.video_id) == m.upload_id)}
        return set(uploads) <= done
    wait_for(complete, 300, interval=1.0, what="speech fixtures indexed")

    last = TRUTH["speech"][-1]["text"]  # the transcriber runs beside the encoder: wait for its last words

    def heard() -> bool:
        try:
            return any(_holds(h, TRUTH["speech"][-1]) for h in _search(query, last, query_pb2.SEARCH_MODE_KEYWORD).hits)
        except grpc.RpcError as e:  # no text index until the first transcript is written
            assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
            return False
    wait_for(heard, 300, interval=2.0, what="speech transcribed")
    return uploads


def test_every_spoken_line_finds_its_shot_first_in_hybrid_mode(query: query_pb2_grpc.QueryServiceStub,  # noqa: F811
                                                               transcribed: dict[str, str]) -> None:
    for line in TRUTH["speech"]:
        res = _search(query, line["text"])
        assert res.mode == query_pb2.SEARCH_MODE_HYBRID and not res.note
        top = res.hits[0]
        assert _holds(top, line), (line, [(h.shot.shot_id, h.transcript) for h in res.hits])
        assert "speech" in top.signals and top.transcript
        # matched words carry the time they are said: inside the sentence, give or take Whisper's timing
        said = [w for w in top.matches if w.source == "speech"]
        assert said and all(line["start_ms"] - 1500 <= w.start_ms <= line["end_ms"] + 1500 for w in said), said


def test_a_quoted_line_is_matched_exactly(query: query_pb2_grpc.QueryServiceStub,  # noqa: F811
                                          transcribed: dict[str, str]) -> None:
    line = TRUTH["speech"][1]  # "The yellow submarine surfaced near the frozen island."
    quoted = '"' + line["text"].rstrip(".") + '"'
    for mode in (query_pb2.SEARCH_MODE_HYBRID, query_pb2.SEARCH_MODE_KEYWORD):
        res = _search(query, quoted, mode)
        assert _holds(res.hits[0], line), (mode, [h.shot.shot_id for h in res.hits])
    # keyword mode keeps only the shots that say the phrase word for word, in order
    keyword = _search(query, '"island frozen the near"', query_pb2.SEARCH_MODE_KEYWORD)
    assert list(keyword.hits) == []


def test_on_screen_titles_find_their_shot(query: query_pb2_grpc.QueryServiceStub,  # noqa: F811
                                          transcribed: dict[str, str]) -> None:
    found = 0
    for title in TRUTH["titles"]:
        res = _search(query, title["text"], query_pb2.SEARCH_MODE_KEYWORD)
        if res.hits and _holds(res.hits[0], title):
            found += 1
            assert "on_screen" in res.hits[0].signals and res.hits[0].on_screen_text
    # Tesseract on 256-px keyframes: the bench reports per-title accuracy; three of four is the floor here
    assert found >= 3, found
    lighthouse = next(t for t in TRUTH["titles"] if "LIGHTHOUSE" in t["text"])
    assert _holds(_search(query, '"lighthouse tour"').hits[0], lighthouse)


def test_videos_without_usable_audio_are_indexed_all_the_same(stack: local.Endpoints,
                                                              query: query_pb2_grpc.QueryServiceStub,  # noqa: F811
                                                              transcribed: dict[str, str]) -> None:
    for vid in (SILENT, CORRUPT):  # their shots are searchable, and carry no transcript
        res = query.SearchText(query_pb2.SearchTextRequest(
            query="a bird", top_k=10, filters=query_pb2.SearchFilters(video_ids=[vid])), timeout=60)
        assert res.hits and {h.shot.video_id for h in res.hits} == {vid}
        assert all(not h.transcript for h in res.hits)
    # the corrupt track is reported, once, naming the upload; the silent one is not a fault
    errors = Topic(stack, "shotline.errors", events_pb2.ProcessingError)
    reported = wait_for(lambda: [e for e in errors.poll() if e.meta.video_id == CORRUPT], 60, what="bad_audio error")
    assert [e.reason for e in reported] == ["bad_audio"] and transcribed[CORRUPT] in reported[0].message
    assert not [e for e in errors.poll() if e.meta.video_id == SILENT]


def test_categories_read_what_is_said_and_shown(query: query_pb2_grpc.QueryServiceStub,  # noqa: F811
                                                transcribed: dict[str, str]) -> None:
    def sources(vid: str) -> set[str]:
        try:
            return set(query.GetVideoCategories(query_pb2.GetVideoCategoriesRequest(video_id=vid), timeout=10).text_sources)
        except grpc.RpcError:
            return set()
    # the scorer re-classifies the montage once its transcript arrives (the API's cache evicts on it)
    wait_for(lambda: {"speech", "on_screen"} <= sources(MONTAGE), 120, what="categories with the transcript")
    assert sources(MONTAGE) == {"metadata", "speech", "on_screen"}  # metadata: the file name is the title
    assert "speech" not in sources(SILENT) and "speech" not in sources(CORRUPT)


def test_the_console_shows_what_is_said_under_each_hit(page, base_url: str,  # type: ignore[no-untyped-def]  # noqa: F811
                                                        transcribed: dict[str, str]) -> None:
    """In the browser: a quoted line's hit shows its transcript with the matched words marked."""
    from playwright.sync_api import expect

    line = TRUTH["speech"][1]
    mid = (line["start_ms"] + line["end_ms"]) // 2
    page.goto(f'/#/search?q=%22yellow+submarine%22&catalog={CATALOG}')
    hit = page.get_by_role("article").first
    expect(hit).to_have_accessible_name(re.compile(rf"^shot {MONTAGE}/\d+$"))
    said = hit.get_by_label("Said")
    expect(said).to_contain_text(re.compile("submarine", re.I))
    expect(said.locator("mark")).to_have_count(2)  # "yellow", "submarine"
    times = hit.locator(".meta span").first.inner_text()  # "a.aa s–b.bb s": the shot holds the line
    start, end = (float(x) * 1000 for x in re.findall(r"[\d.]+", times)[:2])
    assert start <= mid < end
    expect(page.get_by_role("heading", name=re.compile("hybrid"))).to_be_visible()
    page.screenshot(path=str(OUT / "search-speech.png"), full_page=True)
    assert page.js_errors == []  # type: ignore[attr-defined]
