"""Nothing lost, nothing blocked, on the real stack: re-uploads are atomic for readers, and a
shot that cannot be embedded costs that shot, not the video.

The services run under the stack's supervisord; the test feeds Kafka and reads results only
through public paths (the index module's get/search on the real Milvus). Expected shot counts
come from an offline ``segment_video`` of the same file, never from the services under test.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
from kafka import KafkaProducer

from shotline.events import new_meta
from shotline.index import SearchFilter, ShotIndex
from shotline.stack import local
from shotline.v1 import common_pb2, events_pb2
from shotline.video import segment_video
from tests.unit.video_fixtures import read_frames, write_clip

from .conftest import wait_for
from .test_pipeline import FIXTURES, Topic, services, upload  # noqa: F401 - services is a fixture

pytestmark = pytest.mark.integration


def _send(stack: local.Endpoints, topic: str, video_id: str, msg) -> None:  # type: ignore[no-untyped-def]
    p = KafkaProducer(bootstrap_servers=stack.kafka, acks="all", max_request_size=16 * 1024 * 1024)
    p.send(topic, key=video_id.encode(), value=msg.SerializeToString()).get(30)
    p.close()


class Indexed:
    """One uploaded video once complete: its events and a handle on its collection."""

    def __init__(self, stack: local.Endpoints, video_id: str, upload_id: str):
        self.video_id, self.upload_id, self.milvus = video_id, upload_id, stack.milvus
        self.indexed = Topic(stack, "shotline.shots.indexed", events_pb2.ShotsIndexed)
        self.embedded = Topic(stack, "shotline.shots.embedded", events_pb2.ShotsEmbedded)

    def wait(self, upload_id: str | None = None, timeout: float = 180) -> list[events_pb2.ShotsIndexed]:
        uid = upload_id or self.upload_id
        wait_for(lambda: self.indexed.where(lambda m: m.upload_id == uid and m.video_complete), timeout,
                 interval=0.5, what=f"{self.video_id}/{uid} complete")
        return self.indexed.where(lambda m: m.upload_id == uid)

    def chunks(self) -> list[events_pb2.ShotsEmbedded]:
        wait_for(lambda: self.embedded.where(lambda m: m.upload_id == self.upload_id), 30, what="embedded")
        return sorted(self.embedded.where(lambda m: m.upload_id == self.upload_id), key=lambda m: m.chunk_index)

    def index(self) -> ShotIndex:
        ev = self.chunks()[0]
        collection = next(m.collection for m in self.indexed.where(
            lambda m: m.upload_id == self.upload_id and m.collection))
        return ShotIndex(self.milvus, collection, {h: int(d) for h, d in ev.dims.items()},
                         model_id=ev.model.model_id)


@pytest.fixture(scope="module")
def bikes(stack: local.Endpoints, services: local.StackSettings) -> Indexed:
    vid = f"reup-{uuid.uuid4().hex[:8]}"
    ev = upload(stack, vid, FIXTURES / "bikes.mp4")
    v = Indexed(stack, vid, ev.upload_id)
    v.wait()
    return v


def _shots(ix: ShotIndex, video_id: str) -> list[tuple[int, str]]:
    return [(s.shot_index, s.video_version) for s in ix.video_shots(video_id)]


def _searchable(ix: ShotIndex, video_id: str, shot_index: int) -> bool:
    stored = ix.get_by_shot(video_id, shot_index, heads=["visual"])
    if stored is None:
        return False
    hits = ix.search("visual", stored.vectors["visual"], top_k=3, filters=SearchFilter(video_ids=[video_id]),
                     consistency_level="Strong")[0]
    return bool(hits) and hits[0].shot_index == shot_index


def test_invalid_reupload_leaves_the_old_version_searchable(stack: local.Endpoints, bikes: Indexed) -> None:
    expected = len(segment_video(FIXTURES / "bikes.mp4").shots)  # offline, independent of the services
    ix = bikes.index()
    assert _shots(ix, bikes.video_id) == [(i, bikes.upload_id) for i in range(expected)]
    errors = Topic(stack, "shotline.errors", events_pb2.ProcessingError)
    chunks = bikes.chunks()
    bad_ids = []
    for kind in ("nan", "long_id"):
        new_upload = f"bad-{kind}-{uuid.uuid4().hex[:6]}"
        for c in chunks:  # the same shots as a new version, with one bad row in chunk 0
            ev = events_pb2.ShotsEmbedded()
            ev.CopyFrom(c)
            ev.meta.CopyFrom(new_meta(bikes.video_id, "test"))
            ev.upload_id = new_upload
            if c.chunk_index == 0 and kind == "nan":
                ev.shots[1].vectors["joint"].values[0] = float("nan")
            if c.chunk_index == 0 and kind == "long_id":
                ev.shots[0].shot.keyframe_refs[:] = ["k" * 5000]
            _send(stack, "shotline.shots.embedded", bikes.video_id, ev)
            if c.chunk_index == 0:
                break  # chunk 0 is refused; the old version must not have been touched for it
        bad_ids.append(new_upload)
    wait_for(lambda: len([m for m in errors.poll() if m.meta.video_id == bikes.video_id
                          and m.service == "indexer"]) >= 2, 90, what="the indexer refuses both")
    reasons = {m.reason for m in errors.poll() if m.meta.video_id == bikes.video_id and m.service == "indexer"}
    assert reasons == {"bad_vector", "field_too_long"}, reasons
    assert _shots(ix, bikes.video_id) == [(i, bikes.upload_id) for i in range(expected)]
    assert all(_searchable(ix, bikes.video_id, i) for i in range(expected))
    ix.close()


def test_empty_reupload_removes_the_old_shots(stack: local.Endpoints, services: local.StackSettings) -> None:
    vid = f"empty-{uuid.uuid4().hex[:8]}"
    first = upload(stack, vid, FIXTURES / "cityCC0.mpg")
    v = Indexed(stack, vid, first.upload_id)
    v.wait()
    ix = v.index()
    assert len(_shots(ix, vid)) == len(segment_video(FIXTURES / "cityCC0.mpg").shots) > 0
    # A version with no shots, through the encoder and the indexer.
    empty = events_pb2.ShotsSegmented(meta=new_meta(vid, "test"), upload_id="empty-v2", chunk_index=0,
                                      chunk_count=1, total_shots=0)
    _send(stack, "shotline.shots.segmented", vid, empty)
    v.wait("empty-v2", timeout=90)
    assert _shots(ix, vid) == []
    probe = np.ones(ix.dims["visual"], np.float32) / np.sqrt(ix.dims["visual"])
    assert ix.search("visual", probe, top_k=5, filters=SearchFilter(video_ids=[vid]), consistency_level="Strong") == [[]]
    ix.close()


def test_one_frame_tail_video_is_indexed_whole_and_completes(stack: local.Endpoints,
                                                             services: local.StackSettings) -> None:
    clips = FIXTURES / "work" / "clips"  # under an allowed root (the run dir is never one)
    clips.mkdir(parents=True, exist_ok=True)
    path = write_clip(clips / f"tail-{uuid.uuid4().hex[:6]}.mp4", read_frames(FIXTURES / "bikes.mp4")[:77])
    offline = segment_video(path)  # two real shots; the last frame is a hard cut to a third
    assert offline.frame_count == 77 and all(offline.keyframes)
    vid = f"tail-{uuid.uuid4().hex[:8]}"
    ev = upload(stack, vid, path)
    v = Indexed(stack, vid, ev.upload_id)
    v.wait()
    ix = v.index()
    assert _shots(ix, vid) == [(i, ev.upload_id) for i in range(len(offline.shots))]

    # What an older segmenter emitted for such a video: a 1-frame last shot without keyframes.
    # The encoder skips it (and says so), the other shots are indexed, the video completes.
    seg = Topic(stack, "shotline.shots.segmented", events_pb2.ShotsSegmented)
    wait_for(lambda: seg.where(lambda m: m.upload_id == ev.upload_id), 30, what="segmented")
    (chunk,) = seg.where(lambda m: m.upload_id == ev.upload_id)
    old = events_pb2.ShotsSegmented()
    old.CopyFrom(chunk)
    old.meta.CopyFrom(new_meta(vid, "test"))
    old.upload_id = "old-segmenter"
    n = len(chunk.shots)
    old.shots.append(common_pb2.Shot(shot_id=f"{vid}/{n}", video_id=vid, index=n, start_frame=76, end_frame=77,
                                     start_ms=3040, end_ms=3080, transition="cut"))
    old.total_shots = n + 1
    errors = Topic(stack, "shotline.errors", events_pb2.ProcessingError)
    _send(stack, "shotline.shots.segmented", vid, old)
    done = v.wait("old-segmenter", timeout=90)
    complete = next(m for m in done if m.video_complete)
    assert list(complete.skipped_shot_ids) == [f"{vid}/{n}"] and complete.indexed_shots == n
    assert _shots(ix, vid) == [(i, "old-segmenter") for i in range(n)]
    wait_for(lambda: [m for m in errors.poll() if m.meta.video_id == vid and m.reason == "no_keyframes"], 30,
             what="the skipped shot reported")
    ix.close()
