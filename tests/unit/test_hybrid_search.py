"""Hybrid search pieces on their own: query parsing, words → shots, fusion, and the BM25 text
index on the real milvus-lite engine (expected rankings written out by hand)."""

from __future__ import annotations

from shotline.index.hybrid import fuse, matched_words, parse_query
from shotline.index.model import Hit, SearchFilter
from shotline.index.text_index import ShotText, ShotTextIndex, TextHit, Word
from shotline.speech.shots import assign


def _words(text: str, start_ms: int, source: str = "speech", step: int = 300) -> list[Word]:
    return [Word(w, start_ms + i * step, start_ms + i * step + step - 50, 0.9, source)
            for i, w in enumerate(text.split())]


def test_quoted_phrases_are_parsed_and_the_rest_is_kept_for_the_encoder() -> None:
    q = parse_query('harbour "Meet me at the gate" “lighthouse tour”')
    assert q.phrases == [["meet", "me", "at", "the", "gate"], ["lighthouse", "tour"]]
    assert q.text == "harbour Meet me at the gate lighthouse tour"
    assert q.words == ["harbour", "meet", "me", "at", "the", "gate", "lighthouse", "tour"]
    assert parse_query('"" plain').phrases == []


def test_a_word_goes_to_the_shot_holding_its_midpoint() -> None:
    words = [Word("a", 900, 1300, 1, "speech"),   # midpoint 1100: shot 1
             Word("b", 1800, 2100, 1, "speech"),  # 1950: shot 1
             Word("c", 2000, 2200, 1, "speech"),  # 2100: shot 2
             Word("d", 9000, 9100, 1, "speech")]  # past the last shot: dropped
    out = assign(words, [0, 1000, 2000], [1000, 2000, 3000])
    assert [[w.word for w in s] for s in out] == [[], ["a", "b"], ["c"]]


def _hit(video: str, i: int, score: float) -> Hit:
    return Hit(pk=i, video_id=video, shot_index=i, start_ms=0, end_ms=1, keyframe_ref="", score=score)


def _text(video: str, i: int, said: str) -> TextHit:
    return TextHit(video, i, 0, 1, "", "", 1.0, said, "", _words(said, 0))


def test_fusion_rewards_agreement_and_exact_phrases_come_first() -> None:
    vector = [_hit("v", 1, 0.9), _hit("v", 2, 0.8), _hit("v", 3, 0.7)]
    text = [_text("v", 3, "the storm is coming"), _text("v", 4, "is the storm coming here")]
    ranked = fuse(vector, text, [], top_k=10)
    # shot 3 is in both lists: 1/63 + 1/61 beats 1/61 alone
    assert [f.shot_index for f in ranked][:2] == [3, 1]
    exact = fuse(vector, text, [["storm", "coming"]], top_k=10)
    assert exact[0].shot_index == 4 and exact[0].exact  # only shot 4 says "storm coming" in order
    assert [f.shot_index for f in fuse(vector, text, [], top_k=2)] == [3, 1]


def test_matched_words_fold_plurals_and_case() -> None:
    words = _words("Two Harbours and one lighthouse", 0)
    assert [w.word for w in matched_words(words, ["harbour", "lighthouses"])] == ["Harbours", "lighthouse"]


def test_text_index_ranks_by_bm25_filters_and_replaces(milvus_lite) -> None:  # type: ignore[no-untyped-def]
    ti = ShotTextIndex(milvus_lite.uri, collection="t_text_index")
    rows = [ShotText("v1", 0, 0, 1000, video_version="u1", words=_words("meet me at the harbour gate", 0)),
            ShotText("v1", 1, 1000, 2000, video_version="u1", words=_words("the blue submarine surfaced", 1000)),
            ShotText("v2", 0, 0, 1000, video_version="x", words=_words("HARBOUR CITY NEWS", 0, "on_screen")),
            ShotText("v1", 2, 2000, 3000, video_version="u1")]  # nothing said or shown
    assert ti.upsert(rows) == 4
    hits = ti.search("harbours", 10)  # Snowball stems: "harbours" finds "harbour"
    assert {(h.video_id, h.shot_index) for h in hits} == {("v1", 0), ("v2", 0)}
    assert [h.video_id for h in ti.search("harbour", 10, SearchFilter(video_ids=["v2"]))] == ["v2"]
    assert ti.search("the", 10) == []  # stop words alone match nothing
    top = ti.search("submarine", 10)[0]
    assert (top.shot_index, top.transcript) == (1, "the blue submarine surfaced")
    assert [w.start_ms for w in top.words] == [1000, 1300, 1600, 1900]
    # a re-upload with one shot: shot 0 overwritten in place, shots 1-2 of the old upload gone
    ti.upsert([ShotText("v1", 0, 0, 900, video_version="u2", words=_words("a quiet morning", 0))])
    ti.drop_beyond("v1", 1)
    assert ti.search("submarine", 10) == [] and ti.search("gate", 10) == []
    assert [h.transcript for h in ti.search("morning", 10)] == ["a quiet morning"]
    assert set(ti.get([("v1", 0), ("v1", 1), ("v2", 0)])) == {("v1", 0), ("v2", 0)}
