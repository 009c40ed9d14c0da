"""An upload's audio, extracted once: 16 kHz mono Ogg/Opus, time-aligned with the video.

The segmenter already holds the source file, so it extracts the audio track there (one decode
of the audio stream: cheap next to video decoding) and stores it as a blob; the transcriber then
reads only the spans it needs (``read_span``) and never fetches the source again.

Alignment: each decoded frame is placed at its own timestamp (silence fills gaps left by packets
that failed to decode; overlaps are trimmed), so word times stay true to the video after a
damaged stretch. A stream that yields no audio at all is reported as ``error`` — the video's
shots are unaffected, it just gets no transcript. Opus at 32 kbit/s keeps speech intelligible
for Whisper at ~14 MB per hour (16-bit PCM would be 115 MB).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 16_000  # what Whisper (and most VAD/ASR) expects
BIT_RATE = 32_000
_MAX_BAD_PACKET_SHARE = 0.5  # more than this undecodable: the track is corrupt, not damaged


@dataclass(frozen=True)
class Extracted:
    data: bytes | None  # Ogg/Opus, or None (no audio stream, or unusable)
    sample_rate: int
    duration_ms: int
    codec: str
    error: str  # "" when the track was fine or absent


def extract(path: str | Path, max_seconds: float = 4 * 3600.0) -> Extracted:
    """The first audio stream of ``path`` as 16 kHz mono Ogg/Opus (at most ``max_seconds``)."""
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        return Extracted(None, SAMPLE_RATE, 0, "", f"cannot open: {exc}")
    with container:
        if not container.streams.audio:
            return Extracted(None, SAMPLE_RATE, 0, "", "")
        stream = container.streams.audio[0]
        codec = stream.codec_context.name if stream.codec_context else ""
        writer = _OpusWriter()
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        packets = bad = 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                packets += 1
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    bad += 1
                    continue
                for frame in frames:
                    start = frame.time if frame.time is not None else None
                    for out in resampler.resample(frame):
                        writer.add(out.to_ndarray().reshape(-1), start)
                        start = None  # the resampler's later frames follow on
                if writer.samples >= max_seconds * SAMPLE_RATE:
                    break
        except av.FFmpegError as exc:  # demux failure mid-stream: keep what decoded
            bad += 1
            if writer.samples == 0:
                return Extracted(None, SAMPLE_RATE, 0, codec, f"audio stream unreadable: {exc}")
        if packets and (writer.samples == 0 or bad > _MAX_BAD_PACKET_SHARE * packets):
            return Extracted(None, SAMPLE_RATE, 0, codec,
                             f"audio stream unreadable: {bad} of {packets} packets failed to decode")
        if writer.samples == 0:
            return Extracted(None, SAMPLE_RATE, 0, codec, "")
        data = writer.close()
        return Extracted(data, SAMPLE_RATE, writer.samples * 1000 // SAMPLE_RATE, codec, "")


class _OpusWriter:
    """Mono float samples in, Ogg/Opus bytes out, each chunk placed at its timestamp."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.out = av.open(self.buf, "w", format="ogg")
        self.stream = self.out.add_stream("libopus", rate=SAMPLE_RATE, layout="mono")
        self.stream.bit_rate = BIT_RATE
        self.fifo = av.AudioFifo()
        self.samples = 0  # written so far = the time cursor, in samples

    def add(self, pcm: np.ndarray, at_seconds: float | None) -> None:
        if at_seconds is not None:
            want = max(0, int(round(at_seconds * SAMPLE_RATE)))
            if want > self.samples + SAMPLE_RATE // 100:  # a gap over 10 ms: fill with silence
                self._push(np.zeros(want - self.samples, np.float32))
            elif want < self.samples - SAMPLE_RATE // 100:  # overlap: drop what is already there
                pcm = pcm[self.samples - want:]
        if pcm.size:
            self._push(pcm.astype(np.float32, copy=False))

    def _push(self, pcm: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = None
        self.fifo.write(frame)
        self.samples += pcm.size
        size = self.stream.codec_context.frame_size or 320
        while (chunk := self.fifo.read(size)) is not None:
            self._encode(chunk)

    def _encode(self, frame: av.AudioFrame | None) -> None:
        for packet in self.stream.encode(frame):
            self.out.mux(packet)

    def close(self) -> bytes:
        size = self.stream.codec_context.frame_size or 320
        rest = self.fifo.read()
        if rest is not None:  # pad the last frame: the encoder takes whole frames only
            pcm = np.zeros(size, np.float32)
            tail = rest.to_ndarray().reshape(-1)
            pcm[:tail.size] = tail
            last = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="flt", layout="mono")
            last.sample_rate = SAMPLE_RATE
            self._encode(last)
        self._encode(None)
        self.out.close()
        return self.buf.getvalue()


def read_span(data: bytes, start_ms: int, end_ms: int) -> np.ndarray:
    """Samples [start_ms, end_ms) of an extracted track as float32 at ``SAMPLE_RATE``."""
    start_ms = max(0, int(start_ms))
    want = max(0, (int(end_ms) - start_ms) * SAMPLE_RATE // 1000)
    out = np.zeros(want, np.float32)
    if want == 0:
        return out
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        if start_ms > 1000:  # Ogg seeks by bisection; land a little early and trim
            container.seek(int((start_ms - 500) / 1000 / stream.time_base), stream=stream, backward=True)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        first = start_ms * SAMPLE_RATE // 1000
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            at = int(round(frame.time * SAMPLE_RATE))
            if at >= first + want:
                break
            for res in resampler.resample(frame):
                pcm = res.to_ndarray().reshape(-1)
                lo, hi = max(at, first), min(at + pcm.size, first + want)
                if hi > lo:
                    out[lo - first:hi - first] = pcm[lo - at:hi - at]
                at += pcm.size
    return out
