"""Shot detection on real videos with known boundaries."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from shotline.video import SegmenterConfig, segment_video, shots_to_json
from shotline.video.evaluation import score_boundaries
from shotline.video.thumbnail import thumbnail
from tests.unit.video_fixtures import edge_clips, fixtures_dir, montage_truth  # noqa: F401 - fixtures

# First frames of new shots, from the datasets' documentation / visual inspection.
HARD_CUT_TRUTH = {
    "bikes.mp4": [30, 76, 137, 187, 242],
    "cityCC0.mpg": [116],
    "cockatoo.mp4": [],  # handheld, fast motion, one shot
    "bigbuckbunny.mp4": [],
}


def _starts(result) -> list[int]:
    return [s.start_frame for s in result.shots[1:]]


@pytest.mark.parametrize("name", sorted(HARD_CUT_TRUTH))
def test_hard_cuts_within_one_frame(fixtures_dir: Path, name: str) -> None:
    result = segment_video(fixtures_dir / name)
    truth = HARD_CUT_TRUTH[name]
    score = score_boundaries(_starts(result), truth)
    print(f"\n{name}: detected {_starts(result)} truth {truth} F1={score.f1:.3f}")
    assert score.false_positives == 0 and score.false_negatives == 0
    assert all(s.transition == "cut" for s in result.shots[1:])


def test_montage_cuts_and_gradual_transitions(fixtures_dir: Path, montage_truth: dict) -> None:
    result = segment_video(fixtures_dir / "montage_360p.mp4")
    spans = [(t["start"], t["end"]) for t in montage_truth["transitions"]]
    score = score_boundaries(_starts(result), montage_truth["cuts"], spans)
    print(f"\nmontage_360p: {[(s.start_frame, s.transition) for s in result.shots]} F1={score.f1:.3f}")
    assert score.f1 == 1.0
    by_frame = {s.start_frame: s.transition for s in result.shots}
    for cut in montage_truth["cuts"]:
        assert any(by_frame.get(cut + d) == "cut" for d in (-1, 0, 1))
    for t in montage_truth["transitions"]:
        inside = [k for f, k in by_frame.items() if t["start"] <= f < t["end"]]
        assert inside == [t["type"]], (t, inside)
    assert result.frame_count == montage_truth["frame_count"]


def test_shots_tile_the_video_and_timecodes_are_consistent(fixtures_dir: Path) -> None:
    result = segment_video(fixtures_dir / "bikes.mp4")
    shots = result.shots
    assert shots[0].start_frame == 0 and shots[0].start_ms == 0
    assert shots[-1].end_frame == result.frame_count == 250
    assert shots[-1].end_ms == result.duration_ms == 10_000
    for a, b in zip(shots, shots[1:]):
        assert a.end_frame == b.start_frame and a.end_ms == b.start_ms  # end is exclusive
    for s in shots:  # 25 fps constant frame rate: 40 ms per frame
        assert s.start_ms == s.start_frame * 40
    assert shots_to_json(result)[1] == {
        "index": 1,
        "start_frame": 30,
        "end_frame": 76,
        "start_ms": 1200,
        "end_ms": 3040,
        "transition": "cut",
        "transition_start_frame": 30,  # a cut: an empty transition span at the shot's start
        "transition_end_frame": 30,
    }


def test_timecodes_start_at_zero_for_stream_not_starting_at_zero(fixtures_dir: Path) -> None:
    path = fixtures_dir / "cityCC0.mpg"
    with av.open(str(path)) as c:  # MPEG-PS: the raw timestamps start at 0.54 s
        stream = c.streams.video[0]
        assert float(stream.start_time * stream.time_base) > 0.5
    result = segment_video(path)
    assert [(s.start_frame, s.start_ms) for s in result.shots] == [(0, 0), (116, 4640)]
    assert result.duration_ms == 190 * 40
    assert result.codec == "mpeg2video" and (result.width, result.height) == (720, 405)


def test_detection_is_the_same_without_fast_decode(fixtures_dir: Path) -> None:
    fast = segment_video(fixtures_dir / "bikes.mp4")
    exact = segment_video(fixtures_dir / "bikes.mp4", SegmenterConfig(fast_decode=False))
    assert _starts(fast) == _starts(exact)


# (first frame, end frame) of every shot expected in each edge clip (see video_fixtures.edge_clips).
EDGE_TRUTH = {
    "one_frame": [(0, 1)],
    "two_frames": [(0, 2)],
    "two_frames_across_a_cut": [(0, 2)],
    "tail_1_frame": [(0, 31)],  # the 1-frame tail joins the shot before
    "tail_2_frames": [(0, 32)],
    "tail_1_frame_long": [(0, 30), (30, 77)],
    "cut_at_frame_1": [(0, 31)],  # the 1-frame head joins the shot after
    "flash_cut": [(0, 30), (30, 33), (33, 63)],  # a real flash cut stays a (short) shot
    "camera_flash": [(0, 80)],  # two bright frames inside one shot are no cut
}


@pytest.mark.parametrize("name", sorted(EDGE_TRUTH))
def test_edge_clips_give_whole_shots_with_keyframes(edge_clips: dict, name: str) -> None:
    result = segment_video(edge_clips[name])
    got = [(s.start_frame, s.end_frame) for s in result.shots]
    print(f"\n{name}: {got} keyframes {result.keyframe_frames}")
    assert got == EDGE_TRUTH[name]
    assert result.shots[-1].end_frame == result.frame_count and result.shots[0].start_ms == 0
    minimum = SegmenterConfig().min_shot_length(result.fps)
    for shot, frames, idx in zip(result.shots, result.keyframes, result.keyframe_frames, strict=True):
        assert frames, f"shot {shot.index} has no keyframe"
        assert all(shot.start_frame <= i < shot.end_frame for i in idx)
        if len(result.shots) > 1 and name != "flash_cut":
            assert shot.end_frame - shot.start_frame >= minimum


def test_min_shot_length_follows_the_frame_rate() -> None:
    cfg = SegmenterConfig()
    assert [cfg.min_shot_length(f) for f in (24, 25, 30, 60, 0)] == [6, 6, 8, 15, 6]
    assert SegmenterConfig(min_shot_frames=3).min_shot_length(60) == 3
    with pytest.raises(ValueError):
        SegmenterConfig(min_shot_frames=0)


def test_short_tail_merges_even_with_a_sparse_keyframe_grid(edge_clips: dict) -> None:
    # Candidates every 6 frames: the last frame (30) is off the grid, and the tail still merges.
    cfg = SegmenterConfig(keyframe_candidates_per_second=4)
    result = segment_video(edge_clips["tail_1_frame"], cfg)
    assert [(s.start_frame, s.end_frame) for s in result.shots] == [(0, 31)]
    assert all(result.keyframes) and result.merged_fragments == 1


# --- the hard ground truth (scripts/build_segmenter_gt.py): tuned and held-out parts ---------
HARD_PARTS = ("tuned", "heldout")
# Measured on the 360p versions (2026-12-02): transitions that gave exactly one gradual boundary
# whose span overlaps the true one, and transitions still split in two. The rest are missed (no
# boundary: dissolves under fast motion, into screen content); fewer found or more split is a
# regression. The one split (tuned, a fade out of a fast pan into a dark editor screen) is a
# known miss: the fade-in from near-black still trips the cut detector once.
HARD_GRADUAL_FOUND = {"tuned": 26, "heldout": 15}
HARD_SPLIT = {"tuned": 1, "heldout": 0}


@pytest.fixture(scope="module")
def hard_results(fixtures_dir: Path) -> dict:
    import json

    out = {}
    for part in HARD_PARTS:
        truth = json.loads((fixtures_dir / f"hard_{part}.json").read_text())
        out[part] = (truth, segment_video(fixtures_dir / f"hard_{part}_360p.mp4"))
    return out


@pytest.mark.parametrize("part", HARD_PARTS)
def test_hard_truth_dissolves_and_fades_give_one_boundary_with_its_span(hard_results: dict, part: str) -> None:
    truth, result = hard_results[part]
    found, split = 0, []
    for t in truth["transitions"]:
        inside = [s for s in result.shots[1:] if t["start"] - 1 <= s.start_frame <= t["end"]]
        if len(inside) > 1:
            split.append((t, [(s.start_frame, s.transition) for s in inside]))
        elif inside and inside[0].transition in ("dissolve", "fade"):
            s = inside[0]
            assert s.transition_start_frame <= s.start_frame < s.transition_end_frame
            overlap = min(s.transition_end_frame, t["end"]) - max(s.transition_start_frame, t["start"])
            union = max(s.transition_end_frame, t["end"]) - min(s.transition_start_frame, t["start"])
            # 0.35: coarse-to-fine decoding trims one long tuned dissolve under motion (1337-1387
            # found as 1368-1386 at 360p); every other span overlaps its truth by >= 0.4.
            assert overlap / union >= 0.35, (t, s)
            found += 1
    print(f"\n{part}: {found}/{len(truth['transitions'])} gradual transitions found with their span;"
          f" split: {split}")
    assert found >= HARD_GRADUAL_FOUND[part] and len(split) <= HARD_SPLIT[part], split


@pytest.mark.parametrize("part", HARD_PARTS)
def test_hard_truth_has_no_shot_under_the_minimum(hard_results: dict, part: str) -> None:
    _truth, result = hard_results[part]
    minimum = SegmenterConfig().min_shot_length(result.fps)
    short = [(s.start_frame, s.end_frame) for s in result.shots if s.end_frame - s.start_frame < minimum]
    assert short == []
    for a, b in zip(result.shots, result.shots[1:]):
        assert a.end_frame == b.start_frame
        if b.transition == "cut":
            assert b.transition_start_frame == b.transition_end_frame == b.start_frame


def test_montage_transition_spans_are_exact(fixtures_dir: Path, montage_truth: dict) -> None:
    result = segment_video(fixtures_dir / "montage_360p.mp4")
    spans = {(s.transition_start_frame, s.transition_end_frame) for s in result.shots
             if s.transition in ("dissolve", "fade")}
    for t in montage_truth["transitions"]:
        assert any(abs(a - t["start"]) <= 1 and abs(b - t["end"]) <= 2 for a, b in spans), (t, spans)
    first = result.shots[0]
    assert (first.transition_start_frame, first.transition_end_frame) == (0, 0)


def test_coarse_to_fine_finds_what_a_full_decode_finds(fixtures_dir: Path) -> None:
    """Decoding only reference frames (plus the skipped frames of cut-like gaps) gives the
    same cuts and the same gradual transitions (midpoints within 2 frames) as decoding all."""
    from shotline.video import decode

    for name in ("montage_360p.mp4", "bikes.mp4"):
        coarse = segment_video(fixtures_dir / name)
        full = segment_video(fixtures_dir / name, SegmenterConfig(coarse_decode=False))
        assert coarse.frame_count == full.frame_count
        assert [s.transition for s in coarse.shots] == [s.transition for s in full.shots]
        for a, b in zip(coarse.shots, full.shots, strict=True):
            assert abs(a.start_frame - b.start_frame) <= (0 if a.transition == "cut" else 2), (a, b)
            assert a.start_ms == coarse.shots[a.index].start_ms
        assert all(coarse.keyframes)
    with av.open(str(fixtures_dir / "montage_360p.mp4")) as c:
        pics = list(decode.coarse_to_fine(c, fixtures_dir / "montage_360p.mp4", SegmenterConfig(),
                                          decode.DecodeOutcome(), lambda f: thumbnail(f, 64, 36)))
    assert [p.index for p in pics] == list(range(len(pics)))
    decoded = sum(p.frame is not None for p in pics)
    assert decoded < 0.75 * len(pics)  # B frames no other frame refers to are skipped


def test_b_frames_are_skipped_only_where_every_kept_frame_stays_exact(fixtures_dir: Path, tmp_path: Path) -> None:
    """bikes.mp4 as shipped is x264 ref=3: a P frame may refer to a B reference, so skipping B
    references would decode P frames wrong. Re-encoded with x264 veryfast (ref=1) no P frame
    does, and the coarse pass decodes fewer frames. Either way every frame it decodes equals
    a full decode of that frame, and the shots equal those of a full decode."""
    from shotline.video import decode
    from tests.unit.video_fixtures import read_frames, write_clip

    veryfast = write_clip(tmp_path / "bikes_veryfast.mp4", read_frames(fixtures_dir / "bikes.mp4"), preset="veryfast")
    decoded = {}
    for path in (fixtures_dir / "bikes.mp4", veryfast):
        with av.open(str(path)) as c:
            full = {f.pts: f.to_ndarray() for f in c.decode(video=0)}
        with av.open(str(path)) as c:
            pics = list(decode.coarse_to_fine(c, path, SegmenterConfig(fast_decode=False), decode.DecodeOutcome(),
                                              lambda f: thumbnail(f, 64, 36)))
        kept = [p for p in pics if p.frame is not None]
        assert len(pics) == len(full) and kept
        for p in kept:
            assert (p.frame.to_ndarray() == full[p.pts]).all(), (path.name, p.index)
        decoded[path] = len(kept) / len(pics)
        coarse = segment_video(path)
        assert _starts(coarse) == _starts(segment_video(path, SegmenterConfig(coarse_decode=False)))
    assert decoded[veryfast] < 0.5 < decoded[fixtures_dir / "bikes.mp4"], decoded


@pytest.mark.parametrize("name", ["montage_360p.mp4", "bikes.mp4", "cockatoo.mp4"])
def test_chunked_decoding_finds_what_one_pass_finds(fixtures_dir: Path, name: str) -> None:
    """Keyframe-aligned chunks decoded in parallel give the shots of one pass. cockatoo.mp4 is
    4:4:4 from an old x264 build: a decoder started at a later keyframe decodes it to garbage
    unless told the build (which made every chunk start a cut)."""
    from shotline.video import chunks

    small = SegmenterConfig(decode_chunk_frames=24, decode_workers=2)
    with av.open(str(fixtures_dir / name)) as c:
        s = c.streams.video[0]
        size = s.codec_context.width * s.codec_context.height
    plan = chunks.plan(fixtures_dir / name, small, 3 * size, 3)
    assert plan is not None and len(plan.chunks) >= 2, "no clean keyframe to cut at"
    parallel = segment_video(fixtures_dir / name, small)
    one_pass = segment_video(fixtures_dir / name, SegmenterConfig(decode_workers=1))
    assert parallel.frame_count == one_pass.frame_count
    assert [(s.start_frame, s.transition) for s in parallel.shots] == \
        [(s.start_frame, s.transition) for s in one_pass.shots]
    if name in HARD_CUT_TRUTH:
        assert _starts(parallel) == HARD_CUT_TRUTH[name]
    assert all(parallel.keyframes) and len(parallel.keyframes) == len(parallel.shots)


def test_chunks_reuse_open_files(fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks take their container (and their fine decoder's) from a pool instead of opening the
    file each: opening an MP4 parses its whole sample index, ~10 ms a time at 4k frames. Reused
    decoders are flushed by the seek to their chunk, so the shots are those of one pass."""
    from shotline.video import chunks

    path = fixtures_dir / "long_720p_60s.mp4"
    config = SegmenterConfig(decode_chunk_frames=24, decode_workers=2)
    plan = chunks.plan(path, config, 3 * 1280 * 720, 3)
    assert plan is not None and len(plan.chunks) >= 8
    one_pass = segment_video(path, SegmenterConfig(decode_workers=1))
    opened: list[str] = []
    real_open = av.open

    def counting_open(*args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(str(args[0]))
        return real_open(*args, **kwargs)

    monkeypatch.setattr(av, "open", counting_open)
    parallel = segment_video(path, config)
    # probe + plan, then at most one coarse and one fine container per worker
    assert len(opened) <= 2 + 2 * config.decode_workers < len(plan.chunks)
    assert [(s.start_frame, s.transition) for s in parallel.shots] == \
        [(s.start_frame, s.transition) for s in one_pass.shots]
