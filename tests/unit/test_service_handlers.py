"""Segmenter and encoder handlers, without Kafka: real videos, real model, local blob store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kafka.consumer.fetcher import ConsumerRecord

from services.encoder.embedding import ShotEncoder
from services.encoder.handler import EmbedHandler
from services.segmenter.handler import SegmentHandler
from shotline.blobstore import LocalBlobStore
from shotline.errors import BadInput
from shotline.events import new_meta
from shotline.models.build_default import build_default_bundle
from shotline.models.runtime import load_bundle
from shotline.settings import Settings
from shotline.v1 import events_pb2
from shotline.video.config import SegmenterConfig
from shotline.video.sources import SourceConfig

from .video_fixtures import edge_clips, fixtures_dir  # noqa: F401  (session fixtures)


def record(topic: str, value: bytes, key: str = "v", offset: int = 0) -> ConsumerRecord:
    return ConsumerRecord(topic=topic, partition=0, leader_epoch=-1, offset=offset, timestamp=0, timestamp_type=0,
                          key=key.encode(), value=value, headers=[], checksum=None, serialized_key_size=-1,
                          serialized_value_size=len(value), serialized_header_size=-1)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(topic_prefix="t")


@pytest.fixture
def segmenter(settings: Settings, fixtures_dir: Path, tmp_path: Path) -> SegmentHandler:  # noqa: F811
    return SegmentHandler(settings, LocalBlobStore(tmp_path), SegmenterConfig(),
                          SourceConfig(allowed_roots=[str(fixtures_dir)]), chunk_shots=4)


def upload(video_id: str, uri: str, upload_id: str = "u1") -> bytes:
    return events_pb2.VideoUploaded(meta=new_meta(video_id, "test"), uri=uri, upload_id=upload_id,
                                    title="Bikes", language="en").SerializeToString()


def test_segmenter_emits_chunks_with_keyframe_refs(segmenter: SegmentHandler, fixtures_dir: Path) -> None:  # noqa: F811
    outs = segmenter.handle(record("t.videos.uploaded", upload("bikes", str(fixtures_dir / "bikes.mp4"))))
    events = [events_pb2.ShotsSegmented.FromString(o.value) for o in outs]
    assert [o.topic for o in outs] == ["t.shots.segmented"] * 2 and {o.key for o in outs} == {"bikes"}
    assert [e.chunk_index for e in events] == [0, 1] and {e.chunk_count for e in events} == {2}
    shots = [s for e in events for s in e.shots]
    assert [s.start_frame for s in shots] == [0, 30, 76, 137, 187, 242]
    assert all(e.total_shots == 6 and e.text.title == "Bikes" and e.video.frame_count == 250 for e in events)
    assert all(len(s.keyframe_refs) == 3 and segmenter.blobs.exists(s.keyframe_refs[0]) for s in shots)
    # Redelivery rewrites the same blobs and the same shots.
    again = segmenter.handle(record("t.videos.uploaded", upload("bikes", str(fixtures_dir / "bikes.mp4"))))
    assert [s for o in again for s in events_pb2.ShotsSegmented.FromString(o.value).shots] == shots


@pytest.mark.parametrize(("uri", "reason"), [
    ("bad/empty.mp4", "empty_file"), ("bad/text.mp4", "not_a_video"), ("bad/audio_only.m4a", "no_video_stream"),
    ("missing.mp4", "missing_file"), ("/etc/hostname", "uri_not_allowed"), ("ftp://x/y.mp4", "unsupported_scheme"),
])
def test_segmenter_rejects_bad_input(segmenter: SegmentHandler, fixtures_dir: Path, uri: str, reason: str) -> None:  # noqa: F811
    full = uri if uri.startswith(("/", "ftp:")) else str(fixtures_dir / uri)
    with pytest.raises(BadInput) as e:
        segmenter.handle(record("t.videos.uploaded", upload("bad", full)))
    assert e.value.reason == reason
    with pytest.raises(BadInput):
        segmenter.handle(record("t.videos.uploaded", b"\x01\x02garbage"))


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    return load_bundle(build_default_bundle())


def test_encoder_embeds_each_shot_identically_on_redelivery(segmenter: SegmentHandler, fixtures_dir: Path,  # noqa: F811
                                                            settings: Settings, model) -> None:  # type: ignore[no-untyped-def]
    segmented = segmenter.handle(record("t.videos.uploaded", upload("bikes", str(fixtures_dir / "bikes.mp4"))))
    encoder = EmbedHandler(settings, ShotEncoder(model, segmenter.blobs))
    records = [record("t.shots.segmented", o.value, offset=i) for i, o in enumerate(segmented)]
    first = [events_pb2.ShotsEmbedded.FromString(o.value) for o in encoder.handle_batch(records)]
    second = [events_pb2.ShotsEmbedded.FromString(o.value) for o in encoder.handle_batch(records[::-1])[::-1]]
    assert [len(e.shots) for e in first] == [4, 2]
    for a, b in zip(first, second, strict=True):
        assert a.model.model_id == model.model_id and a.total_shots == 6
        for x, y in zip(a.shots, b.shots, strict=True):
            assert x.shot == y.shot
            for head in ("joint", "visual"):
                vx, vy = np.asarray(x.vectors[head].values), np.asarray(y.vectors[head].values)
                assert np.linalg.norm(vx) == pytest.approx(1.0, abs=1e-4)
                np.testing.assert_allclose(vx, vy, atol=1e-6)
    # Shots of one video are closer to each other than to another video's.
    bikes = np.stack([np.asarray(s.vectors["visual"].values) for e in first for s in e.shots])
    assert float((bikes @ bikes.T).mean()) > 0.3


def test_encoder_skips_shots_it_cannot_embed_and_forwards_the_rest(segmenter: SegmentHandler,  # type: ignore[no-untyped-def]
                                                                     fixtures_dir: Path, settings: Settings,  # noqa: F811
                                                                     model) -> None:
    from services.encoder.embedding import SKIPPED

    segmented = segmenter.handle(record("t.videos.uploaded", upload("bikes", str(fixtures_dir / "bikes.mp4"))))
    ev = events_pb2.ShotsSegmented.FromString(segmented[0].value)  # shots 0-3 of 6
    del ev.shots[0].keyframe_refs[:]                                        # no keyframes
    ev.shots[1].keyframe_refs[0] = "keyframes/bikes/u1/missing.jpg"         # a blob that is not there
    segmenter.blobs.put("keyframes/bikes/u1/broken.jpg", b"\xff\xd8\xff not really a jpeg")
    ev.shots[2].keyframe_refs[1] = "keyframes/bikes/u1/broken.jpg"          # an undecodable JPEG
    before = {r: SKIPPED.labels(r)._value.get() for r in ("no_keyframes", "missing_blob", "bad_keyframe")}
    encoder = EmbedHandler(settings, ShotEncoder(model, segmenter.blobs))
    outs = encoder.handle(record("t.shots.segmented", ev.SerializeToString(), offset=7))
    assert [o.topic for o in outs] == ["t.shots.embedded"] + ["t.errors"] * 3
    emb = events_pb2.ShotsEmbedded.FromString(outs[0].value)
    assert [e.shot.index for e in emb.shots] == [3] and len(emb.shots[0].vectors["joint"].values) == 384
    assert [(s.shot.index, s.reason) for s in emb.skipped] == [(0, "no_keyframes"), (1, "missing_blob"),
                                                                (2, "bad_keyframe")]
    assert (emb.chunk_index, emb.chunk_count, emb.total_shots) == (0, 2, 6) and dict(emb.dims) == model.dims
    errors = [events_pb2.ProcessingError.FromString(o.value) for o in outs[1:]]
    assert [e.reason for e in errors] == ["no_keyframes", "missing_blob", "bad_keyframe"]
    assert all(e.service == "encoder" and e.source_offset == 7 and e.meta.video_id == "bikes" for e in errors)
    assert "bikes/1" in errors[1].message
    for r, v in before.items():
        assert SKIPPED.labels(r)._value.get() == v + 1
    # A chunk where nothing can be embedded still goes on (the indexer completes the video).
    for s in ev.shots:
        del s.keyframe_refs[:]
    outs = encoder.handle(record("t.shots.segmented", ev.SerializeToString()))
    emb = events_pb2.ShotsEmbedded.FromString(outs[0].value)
    assert not emb.shots and len(emb.skipped) == 4 and len(outs) == 5


def test_segmenter_video_with_a_one_frame_tail_emits_keyframes_for_every_shot(  # noqa: F811
        settings: Settings, edge_clips: dict, tmp_path: Path) -> None:
    handler = SegmentHandler(settings, LocalBlobStore(tmp_path), SegmenterConfig(),
                             SourceConfig(allowed_roots=[str(edge_clips["tail_1_frame_long"].parent)]))
    outs = handler.handle(record("t.videos.uploaded", upload("tail", str(edge_clips["tail_1_frame_long"]))))
    shots = [s for o in outs for s in events_pb2.ShotsSegmented.FromString(o.value).shots]
    assert [(s.start_frame, s.end_frame) for s in shots] == [(0, 30), (30, 77)]
    assert all(s.keyframe_refs and all(handler.blobs.exists(r) for r in s.keyframe_refs) for s in shots)
