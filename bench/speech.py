"""Speech and on-screen text: speed, accuracy, and what hybrid search adds over vector search.

On the speech fixtures (``scripts/build_speech_fixtures.py``: five sentences spoken by espeak-ng
over real footage at known times, four titles burnt in by ffmpeg at known frames):
- **speech**: Whisper tiny.en (faster-whisper, CTranslate2 int8 on CPU) real-time factor on the
  montage's 35.5 s and on a 3.5 min track (the same audio six times), and word error rate of each
  sentence (the words whose midpoint falls in the sentence's sounded span ± 1 s, against its text);
- **on-screen text**: Tesseract on the keyframes the segmenter stores (the transcriber's input):
  frames/s with and without the cheap text prefilter, the prefilter's skip rate, words read on
  keyframes that show no title (junk from the footage's textures), and each title's
  character accuracy (1 − character error rate against the title, on each keyframe showing it);
- **search**: R@1 of each spoken line (plain, and quoted) and each title, among the montage's
  shots and the sample videos' shots as distractors (16 shots), for vector-only (the default
  model's text → shot-embedding cosine, exact), keyword (Milvus BM25 on a real milvus-lite) and
  hybrid (``shotline.index.hybrid.fuse``, what ``SearchText`` runs). The baseline is vector-only,
  the only mode Shotline had before.

Run: ``python -m bench.speech`` (``make bench ONLY=speech``). Writes bench/results/speech.json.
"""

from __future__ import annotations

import json
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from scripts.fetch_fixtures import default_dest, fetch_all
from shotline.index.hybrid import fuse, holds_phrases, parse_query
from shotline.index.model import Hit
from shotline.index.text_index import ShotText, ShotTextIndex, tokens
from shotline.models.build_default import build_default_bundle
from shotline.models.runtime import load_bundle, mean_pool_shots
from shotline.speech.asr import SpeechRecognizer
from shotline.speech.ocr import OcrConfig, TextReader, merged_readings
from shotline.speech.shots import assign
from shotline.stack.milvus import MilvusLiteServer
from shotline.video import audio, segment_video

RESULTS = Path(__file__).parent / "results" / "speech.json"
DISTRACTORS = ["bikes.mp4", "cockatoo.mp4", "bigbuckbunny.mp4", "cityCC0.mpg"]


def edits(a: list[Any], b: list[Any]) -> int:
    """Levenshtein distance between two sequences (words for WER, characters for CER)."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def speech(fixtures: Path, truth: dict, asr: SpeechRecognizer) -> tuple[dict[str, Any], list]:
    track = audio.extract(fixtures / "speech_montage.mp4")
    assert track.data is not None, track.error
    pcm = audio.read_span(track.data, 0, track.duration_ms)
    runs, words = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        words = asr.words(pcm)
        runs.append(time.perf_counter() - t0)
    long_pcm = np.concatenate([pcm] * 6)
    t0 = time.perf_counter()
    asr.words(long_pcm)
    long_s = time.perf_counter() - t0
    per, errs, total = [], 0, 0
    for line in truth["speech"]:
        heard = [t for w in words if line["start_ms"] - 1000 <= (w.start_ms + w.end_ms) // 2 <= line["end_ms"] + 1000
                 for t in tokens(w.word)]
        want = tokens(line["text"])
        e = edits(want, heard)
        errs, total = errs + e, total + len(want)
        per.append({"text": line["text"], "heard": " ".join(heard), "wer": round(e / len(want), 3)})
    audio_s = track.duration_ms / 1000
    return {"audio_seconds": audio_s, "asr_seconds_median": round(statistics.median(runs), 3),
            "rtf": round(statistics.median(runs) / audio_s, 4), "long_audio_seconds": len(long_pcm) / audio.SAMPLE_RATE,
            "long_rtf": round(long_s / (len(long_pcm) / audio.SAMPLE_RATE), 4), "wer": round(errs / total, 3),
            "sentences": per, "device": asr.device}, words


def on_screen(seg: Any, truth: dict) -> tuple[dict[str, Any], list]:
    frames = [(i, k, f) for i, kfs in enumerate(seg.keyframes) for k, f in enumerate(kfs)]
    out: dict[str, Any] = {"keyframes": len(frames)}
    read: list = []
    for prefilter in (False, True):
        reader = TextReader(OcrConfig(prefilter=prefilter))
        t0 = time.perf_counter()
        read = [(i, k, reader.words(f, seg.keyframe_ms[i][k])) for i, k, f in frames]
        dt = time.perf_counter() - t0
        out["fps_prefilter" if prefilter else "fps_all"] = round(len(frames) / dt, 2)
    from shotline.speech.ocr import likely_text
    passed = [likely_text(f) for _, _, f in frames]
    out["prefilter_skip_rate"] = round(1 - sum(passed) / len(passed), 3)
    # per shot, as the transcriber keeps it
    found = [merged_readings([ws for j, _k, ws in read if j == i]) for i in range(len(seg.keyframes))]
    titles = []
    for t in truth["titles"]:  # accuracy on each keyframe that shows the title, as read with the prefilter on
        want = " ".join(tokens(t["text"])).upper()
        shown = [(" ".join(w.word for w in ws), edits(list(want), list(" ".join(tokens(" ".join(w.word for w in ws))).upper())))
                 for i, k, ws in read if t["start_ms"] <= seg.keyframe_ms[i][k] < t["end_ms"]]
        acc = [max(0.0, 1 - e / len(want)) for _, e in shown]
        titles.append({"text": t["text"], "read": [r for r, _ in shown], "keyframes": len(shown),
                       "char_accuracy": round(statistics.mean(acc), 3) if acc else 0.0})
    out["titles"] = titles
    # precision: words read on keyframes that show no title (the footage's own textures)
    out["false_words"] = sum(len(ws) for i, k, ws in read
                             if not any(t["start_ms"] <= seg.keyframe_ms[i][k] < t["end_ms"] for t in truth["titles"]))
    out["keyframes_without_title"] = sum(1 for i, k, _ in read
                                         if not any(t["start_ms"] <= seg.keyframe_ms[i][k] < t["end_ms"] for t in truth["titles"]))
    out["char_accuracy"] = round(statistics.mean(t["char_accuracy"] for t in titles), 3)
    return out, found


def search(fixtures: Path, truth: dict, seg: Any, spoken: list, shown: list, workdir: Path) -> dict[str, Any]:
    model = load_bundle(build_default_bundle())
    videos = {"montage": seg} | {Path(n).stem: segment_video(fixtures / n) for n in DISTRACTORS}
    keys, images = [], []
    for vid, s in videos.items():
        for i, kfs in enumerate(s.keyframes):
            keys += [(vid, i)] * len(kfs)
            images += kfs
    pooled = mean_pool_shots(model.encode_images(images)["joint"], keys)
    shots = {(v, i): videos[v].shots[i] for v, i in pooled.shot_ids}
    said = assign(spoken, [s.start_ms for s in seg.shots], [s.end_ms for s in seg.shots])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = MilvusLiteServer(workdir, port, db_name="bench.db")
    srv.start()
    try:
        srv.wait_ready(timeout=60)
        index = ShotTextIndex(srv.uri, collection="bench_text")
        index.upsert([ShotText("montage", i, s.start_ms, s.end_ms, words=said[i] + shown[i])
                      for i, s in enumerate(seg.shots)]
                     + [ShotText(v, i, s.start_ms, s.end_ms) for v in videos if v != "montage"
                        for i, s in enumerate(videos[v].shots)])
        time.sleep(1.5)  # Bounded consistency: let the inserts become visible to search

        def ranked(query: str) -> dict[str, list[tuple[str, int]]]:
            q = parse_query(query)
            sims = pooled.embeddings @ model.encode_text([q.text])[0]
            order = np.argsort(-sims)
            vhits = [Hit(pk=0, video_id=pooled.shot_ids[j][0], shot_index=pooled.shot_ids[j][1],
                         start_ms=shots[pooled.shot_ids[j]].start_ms, end_ms=shots[pooled.shot_ids[j]].end_ms,
                         keyframe_ref="", score=float(sims[j])) for j in order]
            texts = index.search(" ".join(q.words), 100)
            keyword = [t for t in texts if not q.phrases or holds_phrases(t, q.phrases)]
            return {"vector": [(h.video_id, h.shot_index) for h in vhits],
                    "keyword": [(t.video_id, t.shot_index) for t in keyword],
                    "hybrid": [(f.video_id, f.shot_index) for f in fuse(vhits, texts, q.phrases, 10)]}

        rows = []
        queries = [("line", s["text"].rstrip("."), s) for s in truth["speech"]]
        queries += [("quoted line", '"' + s["text"].rstrip(".") + '"', s) for s in truth["speech"]]
        queries += [("title", t["text"], t) for t in truth["titles"]]
        for kind, q, span in queries:
            mid = (span["start_ms"] + span["end_ms"]) // 2
            right = next(("montage", i) for i, s in enumerate(seg.shots) if s.start_ms <= mid < s.end_ms)
            r = ranked(q)
            rows.append({"kind": kind, "query": q} | {m: bool(r[m]) and r[m][0] == right for m in r})
    finally:
        srv.stop()
    summary: dict[str, Any] = {}
    for kind in ("line", "quoted line", "title"):
        sel = [r for r in rows if r["kind"] == kind]
        summary[kind] = {m: round(sum(r[m] for r in sel) / len(sel), 3) for m in ("vector", "keyword", "hybrid")}
    summary["all"] = {m: round(sum(r[m] for r in rows) / len(rows), 3) for m in ("vector", "keyword", "hybrid")}
    return {"shots": len(pooled.shot_ids), "queries": rows, "r_at_1": summary}


def main() -> None:
    fixtures = default_dest()
    if not (fixtures / "speech_montage.json").exists():
        fetch_all(fixtures, large=False)
    truth = json.loads((fixtures / "speech_montage.json").read_text())
    asr = SpeechRecognizer()
    sp, words = speech(fixtures, truth, asr)
    seg = segment_video(fixtures / "speech_montage.mp4")
    ocr, shown = on_screen(seg, truth)
    with tempfile.TemporaryDirectory(prefix="bench-speech-") as tmp:
        se = search(fixtures, truth, seg, words, shown, Path(tmp))
    result = {"machine": f"{__import__('os').cpu_count()} CPUs", "speech": sp, "ocr": ocr, "search": se}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))

    con = Console()
    t = Table(title="Speech (Whisper tiny.en, faster-whisper int8) and on-screen text (Tesseract 5)")
    for c in ("figure", "value", "baseline / note"):
        t.add_column(c)
    t.add_row(f"ASR real-time factor, {sp['audio_seconds']:.1f} s", f"{sp['rtf']:.3f} ({1 / sp['rtf']:.0f}x real time)", sp["device"])
    t.add_row(f"ASR real-time factor, {sp['long_audio_seconds'] / 60:.1f} min", f"{sp['long_rtf']:.3f}", "")
    t.add_row("word error rate (5 sentences)", f"{sp['wer']:.3f}", "; ".join(s["heard"] for s in sp["sentences"] if s["wer"]))
    t.add_row("OCR keyframes/s, prefilter on", f"{ocr['fps_prefilter']:.1f}", f"all frames: {ocr['fps_all']:.1f}/s")
    t.add_row("OCR prefilter skip rate", f"{ocr['prefilter_skip_rate']:.2f}", f"{ocr['keyframes']} keyframes")
    t.add_row("OCR words read where no title is shown", str(ocr["false_words"]),
              f"{ocr['keyframes_without_title']} keyframes of real footage without text")
    t.add_row("OCR character accuracy (4 titles)", f"{ocr['char_accuracy']:.3f}",
              "; ".join(f"{x['text']} → {' | '.join(x['read'])}" for x in ocr["titles"]))
    for kind, r in se["r_at_1"].items():
        t.add_row(f"R@1 {kind}: hybrid / keyword", f"{r['hybrid']:.2f} / {r['keyword']:.2f}",
                  f"vector-only (baseline) {r['vector']:.2f}; {se['shots']} shots")
    con.print(t)


if __name__ == "__main__":
    main()
