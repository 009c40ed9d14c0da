"""The console's HTTP API and media, with a fake QueryService stub and a real local blob store."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import grpc
import pytest
from starlette.testclient import TestClient

from services.console.api import QueryApi, retrain_state
from services.console.app import build_app
from services.console.media import Media, parse_range, MediaError
from shotline.blobstore import LocalBlobStore
from shotline.v1 import common_pb2, events_pb2, query_pb2

UID = "u-1"


def shot(vid: str, i: int, uid: str = UID) -> common_pb2.Shot:
    return common_pb2.Shot(shot_id=f"{vid}/{i}", video_id=vid, index=i, start_ms=1000 * i, end_ms=1000 * i + 900,
                           keyframe_refs=[f"keyframes/{vid}/{uid}/{i:05d}_00.jpg"])


class RpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str):
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


class FakeStub:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.annotations = [
            query_pb2.Annotation(shot_id="bikes/1", value=events_pb2.LABEL_VALUE_POSITIVE, annotator="ann", labelled_at_ms=3),
            query_pb2.Annotation(shot_id="bikes/2", value=events_pb2.LABEL_VALUE_POSITIVE, annotator="bob", labelled_at_ms=2),
            query_pb2.Annotation(shot_id="bikes/3", value=events_pb2.LABEL_VALUE_NEGATIVE, annotator="ann", labelled_at_ms=1),
        ]

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        def call(request, timeout=None, metadata=()):  # type: ignore[no-untyped-def]
            self.calls.append((name, request))
            self.metadata = metadata
            return getattr(self, "_" + name)(request)
        return call

    def _SearchText(self, r):  # type: ignore[no-untyped-def]
        if r.query == "boom":
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "top_k must be between 1 and 1000")
        hits = [query_pb2.ShotHit(shot=shot("bikes", i), score=1 - i / 10) for i in range(min(r.top_k, 5))]
        return query_pb2.SearchResponse(hits=hits, model=common_pb2.ModelRef(model_id="m"), head="joint")

    def _SearchSimilar(self, r):  # type: ignore[no-untyped-def]
        vid = r.shot_id.split("/")[0]
        return query_pb2.SearchResponse(hits=[query_pb2.ShotHit(shot=shot(vid, i), score=0.5) for i in (2, 0, 1, 3)])

    def _GetClassifier(self, r):  # type: ignore[no-untyped-def]
        if r.label == "nope":
            raise RpcError(grpc.StatusCode.NOT_FOUND, "unknown label 'nope'")
        return query_pb2.Classifier(label=r.label, deployed_version=1, positives=2, negatives=1, versions=[
            query_pb2.ClassifierVersion(version=1, kind="zero_shot", ap=float("nan"), positives=2, negatives=1)])

    def _SubmitLabels(self, r):  # type: ignore[no-untyped-def]
        return query_pb2.SubmitLabelsResponse(event_id="e1", accepted=len(r.labels))

    def _ListAnnotations(self, r):  # type: ignore[no-untyped-def]
        return query_pb2.ListAnnotationsResponse(label=r.label, annotations=self.annotations)

    def _ScoreShots(self, r):  # type: ignore[no-untyped-def]
        table = {"bikes/1": 0.9, "bikes/2": 0.1, "bikes/3": 0.8}
        return query_pb2.ScoreShotsResponse(label=r.label, version=1, scores={s: table[s] for s in r.shot_ids})

    def _GetFeed(self, r):  # type: ignore[no-untyped-def]
        return query_pb2.FeedResponse(label=r.label, version=1, kind=r.kind,
                                      shots=[query_pb2.ShotHit(shot=shot("bikes", i), score=0.5) for i in range(r.n)])

    def _DeployClassifier(self, r):  # type: ignore[no-untyped-def]
        return self._GetClassifier(r)


@pytest.fixture
def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    blobs = LocalBlobStore(tmp_path / "blobs")
    blobs.put(f"keyframes/bikes/{UID}/00001_00.jpg", b"\xff\xd8jpeg")
    blobs.put(f"uploads/bikes/{UID}.mp4", bytes(range(256)) * 40)
    api = QueryApi("127.0.0.1:1", token="sekrit")
    stub = FakeStub()
    api.stub = stub  # type: ignore[assignment]
    media = Media(blobs, tmp_path / "previews", 10 * 2**20)
    app, _ = build_app(api, media)
    return TestClient(app), stub, blobs, tmp_path


def test_search_returns_shots_with_media_urls_and_passes_filters(env) -> None:  # type: ignore[no-untyped-def]
    client, stub, *_ = env
    r = client.get("/api/search", params={"q": "a bike", "catalog": "c1", "video": "bikes,cockatoo", "limit": 2,
                                         "min_start_ms": 500})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [h["shot_id"] for h in body["hits"]] == ["bikes/0", "bikes/1"] and body["has_more"]
    assert body["hits"][1]["thumbnail"] == f"/media/keyframes/bikes/{UID}/00001_00.jpg"
    assert body["hits"][1]["video"] == f"/media/video/bikes/{UID}"
    (name, req), = stub.calls
    assert name == "SearchText" and list(req.filters.catalog_ids) == ["c1"]
    assert list(req.filters.video_ids) == ["bikes", "cockatoo"] and req.filters.min_start_ms == 500
    assert stub.metadata == (("authorization", "Bearer sekrit"),)  # the API token is forwarded


def test_api_errors_come_back_in_words_with_a_matching_status(env) -> None:  # type: ignore[no-untyped-def]
    client, *_ = env
    r = client.get("/api/search", params={"q": "boom"})
    assert r.status_code == 400 and "top_k" in r.json()["error"]
    r = client.get("/api/classifiers/nope")
    assert r.status_code == 404 and r.json() == {"error": "unknown label 'nope'", "code": "NOT_FOUND"}
    assert client.get("/api/search", params={"q": " "}).json()["error"] == "type something to search for"
    assert client.get("/api/search", params={"q": "x", "limit": "many"}).status_code == 400


def test_labels_and_create_and_deploy(env) -> None:  # type: ignore[no-untyped-def]
    client, stub, *_ = env
    r = client.post("/api/classifiers/cycling/labels", json={"labels": [
        {"shot_id": "bikes/1", "value": "positive"}, {"shot_id": "bikes/2", "value": "cleared"}], "annotator": "ann"})
    assert r.status_code == 202 and r.json()["accepted"] == 2
    req = stub.calls[-1][1]
    assert [lb.value for lb in req.labels] == [events_pb2.LABEL_VALUE_POSITIVE, events_pb2.LABEL_VALUE_CLEARED]
    bad = client.post("/api/classifiers/cycling/labels", json={"labels": [{"shot_id": "bikes/1", "value": "maybe"}]})
    assert bad.status_code == 400 and "positive, negative or cleared" in bad.json()["error"]
    assert client.post("/api/classifiers", json={"label": "x"}).status_code == 400  # a description is needed
    r = client.post("/api/classifiers", json={"label": "cycling", "description": "people on bikes"})
    assert r.status_code == 202 and stub.calls[-1][1].description == "people on bikes"
    r = client.post("/api/classifiers/cycling/deploy", json={"version": 1})
    assert r.status_code == 200 and r.json()["retrain"] == {"state": "deployed", "text": "deployed v1"}
    assert r.json()["versions"][0]["ap"] is None  # NaN is not JSON


def test_feed_and_review_paginate_filter_and_sort_by_disagreement(env) -> None:  # type: ignore[no-untyped-def]
    client, *_ = env
    feed = client.get("/api/classifiers/cycling/feeds/borderline", params={"offset": 50, "limit": 50}).json()
    assert len(feed["hits"]) == 50 and feed["hits"][0]["shot_id"] == "bikes/50" and feed["has_more"]
    assert client.get("/api/classifiers/cycling/feeds/sideways").status_code == 400
    rows = client.get("/api/classifiers/cycling/annotations").json()
    assert [a["shot_id"] for a in rows["annotations"]] == ["bikes/1", "bikes/2", "bikes/3"]  # most recent first
    assert rows["annotations"][0]["shot"]["thumbnail"].endswith("00001_00.jpg")  # thumbnails joined in
    dis = client.get("/api/classifiers/cycling/annotations", params={"sort": "disagreement"}).json()
    # positive at 0.1 disagrees most, then negative at 0.8, then positive at 0.9
    assert [a["shot_id"] for a in dis["annotations"]] == ["bikes/2", "bikes/3", "bikes/1"]
    only = client.get("/api/classifiers/cycling/annotations", params={"value": "negative"}).json()
    assert [a["shot_id"] for a in only["annotations"]] == ["bikes/3"] and only["counts"] == {"positive": 2, "negative": 1}
    by = client.get("/api/classifiers/cycling/annotations", params={"annotator": "bob", "limit": 1}).json()
    assert [a["shot_id"] for a in by["annotations"]] == ["bikes/2"] and by["annotators"] == ["ann", "bob"]


def test_video_page_lists_shots_in_order(env) -> None:  # type: ignore[no-untyped-def]
    client, stub, *_ = env
    stub._GetVideoCategories = lambda r: (_ for _ in ()).throw(  # type: ignore[attr-defined]
        RpcError(grpc.StatusCode.NOT_FOUND, "video 'bikes' has not been classified yet"))
    body = client.get("/api/videos/bikes").json()
    assert [s["index"] for s in body["shots"]] == [0, 1, 2, 3]
    assert body["categories"] is None and "not been classified" in body["categories_error"]


def test_keyframes_are_served_with_caching_and_nothing_else_is(env) -> None:  # type: ignore[no-untyped-def]
    client, *_ = env
    r = client.get(f"/media/keyframes/bikes/{UID}/00001_00.jpg")
    assert r.status_code == 200 and r.content == b"\xff\xd8jpeg" and r.headers["content-type"] == "image/jpeg"
    assert "immutable" in r.headers["cache-control"]
    assert client.get(f"/media/keyframes/bikes/{UID}/00009_00.jpg").status_code == 404
    assert client.get("/media/keyframes/bikes/../../uploads/x.jpg").status_code in (400, 404)
    assert client.get("/media/keyframes/bikes/x.mp4").status_code == 404  # keyframe images only


def test_video_source_is_served_by_byte_range(env) -> None:  # type: ignore[no-untyped-def]
    client, *_ = env
    play = client.get(f"/api/play/bikes/{UID}", params={"start_ms": 1000, "end_ms": 1900}).json()
    assert play == {"kind": "range", "url": f"/media/video/bikes/{UID}", "start_ms": 1000, "end_ms": 1900}
    r = client.get(play["url"], headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.headers["content-range"] == "bytes 100-199/10240"
    assert r.content == (bytes(range(256)) * 40)[100:200] and r.headers["content-type"] == "video/mp4"
    assert "/" not in r.headers.get("content-disposition", "")  # no path leaks
    missing = client.get("/api/play/cockatoo/other")
    assert missing.status_code == 404 and "not in the blob store" in missing.json()["error"]


def test_parse_range() -> None:
    assert parse_range("bytes=0-", 10) == (0, 9)
    assert parse_range("bytes=-3", 10) == (7, 9)
    assert parse_range("bytes=2-100", 10) == (2, 9)
    with pytest.raises(MediaError):
        parse_range("bytes=20-", 10)


def test_unplayable_containers_get_an_h264_preview_of_the_shot(env) -> None:  # type: ignore[no-untyped-def]
    client, _, blobs, tmp = env
    src = tmp / "clip.mpg"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=4",
                    "-c:v", "mpeg2video", str(src)], check=True)
    with src.open("rb") as f:
        blobs.put_file("uploads/city/u9.mpg", f)
    play = client.get("/api/play/city/u9", params={"start_ms": 1000, "end_ms": 3000}).json()
    assert play["kind"] == "preview" and play["offset_ms"] == 1000 and play["end_ms"] == 2000
    t0 = time.perf_counter()
    r = client.get(play["url"])
    first = time.perf_counter() - t0
    assert r.status_code == 200 and r.content[4:8] == b"ftyp"
    t0 = time.perf_counter()
    assert client.get(play["url"]).content == r.content  # cached
    print(f"\npreview of a 2 s shot: {first * 1000:.0f} ms to make, {len(r.content)} bytes; "
          f"cached: {(time.perf_counter() - t0) * 1000:.1f} ms")
    assert client.get("/media/video/city/u9/preview", params={"start_ms": 0, "end_ms": 999_999}).status_code == 400


def test_token_guards_api_and_media_but_not_probes(tmp_path: Path) -> None:
    api = QueryApi("127.0.0.1:1")
    api.stub = FakeStub()  # type: ignore[assignment]
    app, _ = build_app(api, Media(LocalBlobStore(tmp_path), tmp_path / "p", 2**20), token="t0k")
    client = TestClient(app)
    assert client.get("/api/classifiers/x").status_code == 401
    assert client.get("/media/keyframes/a/b/c.jpg").status_code == 401
    assert client.get("/api/classifiers/x", headers={"Authorization": "Bearer t0k"}).status_code == 200
    assert client.get("/healthz").status_code == 200
    page = client.get("/", params={"token": "t0k"})
    assert page.status_code == 200 and "shotline_console" in page.headers["set-cookie"]
    assert client.get("/api/classifiers/x").status_code == 200  # the cookie now signs requests


def test_static_app_and_metrics(env) -> None:  # type: ignore[no-untyped-def]
    client, *_ = env
    assert "Shotline" in client.get("/").text and client.get("/static/app.js").status_code == 200
    client.get("/api/classifiers/nope")
    text = client.get("/metrics").text
    assert 'shotline_console_requests_total{method="GET",route="classifier",status="404"}' in text
    assert 'shotline_console_rpc_errors_total{code="NOT_FOUND",method="GetClassifier"}' in text


def test_retrain_state_is_the_trainers_own() -> None:
    # Same label counts as the newest version, but the trainer says new labels wait (a flip
    # positive↔negative keeps the counts): the page must say queued, not deployed.
    c = query_pb2.Classifier(label="x", deployed_version=1, positives=3, negatives=3,
                             versions=[query_pb2.ClassifierVersion(version=1, positives=3, negatives=3)],
                             retrain_state=query_pb2.RETRAIN_STATE_QUEUED)
    assert retrain_state(c)["state"] == "queued" and "deployed v1" in retrain_state(c)["text"]
    c.retrain_state = query_pb2.RETRAIN_STATE_TRAINING
    assert retrain_state(c)["state"] == "training"
    c.versions.add(version=2, positives=3, negatives=3)
    c.deployed_version, c.pinned, c.retrain_state = 2, True, query_pb2.RETRAIN_STATE_UP_TO_DATE
    assert retrain_state(c) == {"state": "deployed", "text": "deployed v2 (pinned)"}
    assert retrain_state(query_pb2.Classifier(label="y"))["state"] == "queued"


def test_review_shows_labels_of_replaced_shots_apart(env) -> None:  # type: ignore[no-untyped-def]
    client, stub, *_ = env
    stub.annotations.append(query_pb2.Annotation(
        shot_id="bikes/7", value=events_pb2.LABEL_VALUE_POSITIVE, annotator="ann", labelled_at_ms=4, detached=True,
        detached_upload_id="u-old", replaced_by_upload_id="u-new", detached_at_ms=9))
    rows = client.get("/api/classifiers/cycling/annotations").json()
    # Not among the annotations the model trains on, nor in their counts …
    assert "bikes/7" not in [a["shot_id"] for a in rows["annotations"]]
    assert rows["counts"] == {"positive": 2, "negative": 1}
    # … but listed as "shot replaced", with the uploads before and after.
    assert rows["replaced"] == [{"shot_id": "bikes/7", "value": "positive", "annotator": "ann", "labelled_at_ms": 4,
                                 "old_upload_id": "u-old", "new_upload_id": "u-new", "replaced_at_ms": 9}]


def test_people_sign_in_with_their_own_tokens_which_are_forwarded(tmp_path: Path) -> None:
    from services.console.api import CALLER_TOKEN
    from shotline.auth import Authenticator, hash_token

    seen: list[str | None] = []

    class Recording(FakeStub):  # type: ignore[misc]
        def __setattr__(self, name: str, value: object) -> None:
            if name == "metadata":
                seen.append(dict(value or ()).get("authorization"))  # type: ignore[call-overload]
            super().__setattr__(name, value)

    users = Authenticator([("alice", "annotator", hash_token("tok-alice")), ("ads", "reader", hash_token("tok-ads"))], {})
    api = QueryApi("127.0.0.1:1", token="console-own")
    api.stub = Recording()  # type: ignore[assignment]
    app, _ = build_app(api, Media(LocalBlobStore(tmp_path), tmp_path / "p", 2**20), users=users)
    client = TestClient(app)
    assert client.get("/api/classifiers/x").status_code == 401
    assert client.get("/api/classifiers/x", headers={"Authorization": "Bearer console-own"}).status_code == 401
    assert client.get("/api/classifiers/x", headers={"Authorization": "Bearer tok-ads"}).status_code == 200
    page = client.get("/", params={"token": "tok-alice"})
    assert "shotline_console" in page.headers["set-cookie"]
    assert client.get("/api/classifiers/x").status_code == 200  # alice's cookie
    assert seen == ["Bearer tok-ads", "Bearer tok-alice"]  # each person's own token reached the API
    assert CALLER_TOKEN.get() is None
