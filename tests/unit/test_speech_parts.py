"""On-screen text on real frames with the real Tesseract: a burnt-in title is read, the textures of
real footage (foliage, façades, fur) give no words."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from shotline.speech.ocr import TextReader, looks_like_a_word

FIXTURES = Path.home() / ".cache" / "shotline" / "fixtures"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def _frames(name: str, every: int = 25, size: tuple[int, int] = (455, 256)) -> list[np.ndarray]:
    """Every ``every``-th frame at keyframe size (the segmenter stores 256-px short sides)."""
    with av.open(str(FIXTURES / name)) as c:
        return [np.asarray(f.to_image().resize(size)) for i, f in enumerate(c.decode(video=0)) if i % every == 0]


def test_junk_tokens_are_not_words() -> None:
    assert [w for w in ("SS", "ay", "ye", "=r", "1%", "_——e-", "‘A", "TWO:", "2026", "42", "NEWS", "Pax")
            if looks_like_a_word(w)] == ["TWO:", "2026", "42", "NEWS", "Pax"]


def test_titles_are_read_and_footage_gives_no_words() -> None:
    reader = TextReader()
    frame = _frames("bikes.mp4")[3].copy()
    img = Image.fromarray(frame)
    draw = ImageDraw.Draw(img)
    draw.rectangle((60, 100, 395, 150), fill=(0, 0, 0))
    draw.text((75, 108), "MARKET STREET", font=ImageFont.truetype(FONT, 28), fill=(255, 255, 255))
    assert [w.word for w in reader.words(np.asarray(img), 1234)] == ["MARKET", "STREET"]
    junk = [(name, w.word) for name in ("bikes.mp4", "cityCC0.mpg", "bigbuckbunny.mp4", "cockatoo.mp4")
            for f in _frames(name) for w in reader.words(f, 0)]
    assert junk == []


def test_a_shots_on_screen_words_keep_the_surest_readings_order() -> None:
    from shotline.index.text_index import Word
    from shotline.speech.ocr import merged_readings

    def read(at: int, *words: tuple[str, float]) -> list[Word]:
        return [Word(w, at, at, c, "on_screen") for w, c in words]
    readings = [read(0, ("EWS", 0.71)), read(2000, ("CITY", 0.95), ("NEWS", 0.95)),
                read(4000, ("HARBOUR", 0.96), ("CITY", 0.92), ("NEWS", 0.96)), read(5000, ("news", 0.9), ("LIVE", 0.8))]
    assert [w.word for w in merged_readings(readings)] == ["HARBOUR", "CITY", "NEWS", "LIVE", "EWS"]
    assert merged_readings([]) == [] and merged_readings([[], []]) == []


def test_long_speech_is_transcribed_in_batches_with_the_same_words() -> None:
    """A span over a minute takes the batched pipeline; its words and times match the plain one's."""
    import json

    from shotline.speech.asr import AsrConfig, SpeechRecognizer
    from shotline.video import audio

    truth = json.loads((FIXTURES / "speech_montage.json").read_text())
    track = audio.extract(FIXTURES / "speech_montage.mp4")
    assert track.data is not None
    pcm = audio.read_span(track.data, 0, track.duration_ms)
    twice = np.concatenate([pcm, pcm])  # 71 s: over the minute
    plain = SpeechRecognizer(AsrConfig(batch_over_seconds=1e9)).words(twice)
    batched = SpeechRecognizer().words(twice)
    said = [w.word.strip(".,").lower() for w in batched]
    assert "submarine" in said and said.count("helicopter") == 2
    assert abs(len(batched) - len(plain)) <= 2
    # the second copy's words land in the second half, each sentence near its own time
    late = [w for w in batched if w.word.strip(".,").lower() == "helicopter"][1]
    line = truth["speech"][4]
    assert line["start_ms"] + track.duration_ms - 1500 <= late.start_ms <= line["end_ms"] + track.duration_ms + 1500
