"""Media for the browser: keyframe thumbnails and the shot's motion, straight from the blob store.

- Keyframes: ``keyframes/…jpg`` keys exactly as the API returns them on shots; immutable (the
  key names the upload), so they are cached by the browser for a day.
- Video: the source upload itself, ``uploads/<video>/<upload><ext>``, found from the upload id
  in a shot's keyframe key, served with HTTP range requests (206 Partial Content), so the
  player fetches only the bytes around the shot and seeks to its start. Nothing is made at
  ingest and nothing is stored twice.
- Containers a browser cannot decode (MPEG-PS, AVI, MKV, …) get a short H.264 preview of the
  shot's range, made on first play with ffmpeg and kept in a size-capped local cache.

Only keys under ``keyframes/`` and ``uploads/`` are ever read; file paths never leave the server.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from services.console import metrics
from shotline.blobstore import BlobStore, check_key
from shotline.errors import BadInput, TransientError

PLAYABLE = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/mp4", ".webm": "video/webm",
            ".ogv": "video/ogg"}
OTHER = (".mpg", ".mpeg", ".ts", ".avi", ".mkv", ".wmv", ".flv", ".3gp", "")
MAX_PREVIEW_MS = 120_000
_KEYFRAME = re.compile(r"^keyframes/.+\.(jpg|jpeg|png)$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class MediaError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def keyframe_key(key: str) -> str:
    try:
        check_key(key)
    except BadInput as e:
        raise MediaError(400, e.args[-1] if e.args else "bad key") from e
    if not _KEYFRAME.match(key):
        raise MediaError(404, "only keyframe images are served here")
    return key


class Media:
    def __init__(self, blobs: BlobStore, preview_dir: Path, cache_bytes: int, ffmpeg: str = "ffmpeg"):
        self.blobs = blobs
        self.preview_dir = Path(preview_dir)
        self.cache_bytes = cache_bytes
        self.ffmpeg = ffmpeg
        self._sources: dict[tuple[str, str], str | None] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    # ---- keyframes ---------------------------------------------------------------------------
    def keyframe(self, key: str) -> bytes:
        key = keyframe_key(key)
        try:
            data = self.blobs.get(key)
        except BadInput as e:
            raise MediaError(404, f"keyframe {key!r} is not in the blob store") from e
        except TransientError as e:
            raise MediaError(503, f"the blob store is unavailable: {e}") from e
        metrics.MEDIA_BYTES.labels("keyframe").inc(len(data))
        return data

    # ---- source videos -----------------------------------------------------------------------
    def source_key(self, video_id: str, upload_id: str) -> str:
        """The blob key of an upload's source, whatever extension it was stored with."""
        ck = (video_id, upload_id)
        if ck in self._sources and self._sources[ck]:
            return self._sources[ck]  # type: ignore[return-value]
        base = f"uploads/{quote(video_id, safe='')}/{quote(upload_id, safe='')}"
        try:
            found = next((base + ext for ext in (*PLAYABLE, *OTHER) if self.blobs.exists(base + ext)), None)
        except (BadInput, TransientError) as e:
            raise MediaError(503, f"the blob store is unavailable: {e}") from e
        if found is None:
            raise MediaError(404, f"video {video_id!r} cannot be played here: its source is not in the blob store "
                                  "(it was ingested from a path or URL, not uploaded through UploadVideo)")
        with self._lock:
            self._sources[ck] = found
        return found

    def play(self, video_id: str, upload_id: str, start_ms: int, end_ms: int) -> dict[str, Any]:
        """How the player gets this shot: the source's byte ranges, or a preview of the range."""
        key = self.source_key(video_id, upload_id)
        base = f"/media/video/{quote(video_id, safe='')}/{quote(upload_id, safe='')}"
        if Path(key).suffix.lower() in PLAYABLE:
            return {"kind": "range", "url": base, "start_ms": start_ms, "end_ms": end_ms}
        return {"kind": "preview", "url": f"{base}/preview?start_ms={start_ms}&end_ms={end_ms}",
                "start_ms": 0, "end_ms": end_ms - start_ms, "offset_ms": start_ms}

    def local_source(self, key: str) -> Path | None:
        try:
            return self.blobs.local_path(key)
        except BadInput as e:
            raise MediaError(404, "the video's source is gone from the blob store") from e

    def s3_range(self, key: str, header: str | None) -> tuple[int, dict[str, str], AsyncIterator[bytes]]:
        """Range reads from an S3-compatible store (the blob-store protocol has no ranged read yet)."""
        client, bucket = self.blobs.client, self.blobs.bucket  # type: ignore[attr-defined]
        obj_key = self.blobs._key(key)  # type: ignore[attr-defined]
        size = int(client.head_object(Bucket=bucket, Key=obj_key)["ContentLength"])
        start, end = parse_range(header, size)
        resp = client.get_object(Bucket=bucket, Key=obj_key, Range=f"bytes={start}-{end}")
        body = resp["Body"]
        status = 206 if header else 200
        headers = {"accept-ranges": "bytes", "content-length": str(end - start + 1)}
        if header:
            headers["content-range"] = f"bytes {start}-{end}/{size}"

        async def chunks() -> AsyncIterator[bytes]:
            while data := body.read(256 * 1024):
                metrics.MEDIA_BYTES.labels("video").inc(len(data))
                yield data
        return status, headers, chunks()

    # ---- previews ----------------------------------------------------------------------------
    def preview(self, video_id: str, upload_id: str, start_ms: int, end_ms: int) -> Path:
        if not (0 <= start_ms < end_ms) or end_ms - start_ms > MAX_PREVIEW_MS:
            raise MediaError(400, f"a preview covers 0 < end_ms - start_ms <= {MAX_PREVIEW_MS} ms")
        key = self.source_key(video_id, upload_id)
        digest = hashlib.sha1(f"{key}|{start_ms}|{end_ms}".encode()).hexdigest()
        out = self.preview_dir / f"{digest}.mp4"
        with self._lock:
            lock = self._locks.setdefault(digest, threading.Lock())
        with lock:
            if out.is_file():
                os.utime(out)
                metrics.PREVIEWS.labels("cached").inc()
                return out
            self.preview_dir.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            src = self.local_source(key)
            tmp_src = None
            if src is None:
                fd, name = tempfile.mkstemp(dir=self.preview_dir, suffix=Path(key).suffix)
                with os.fdopen(fd, "wb") as f:
                    self.blobs.download_to(key, f)
                src = tmp_src = Path(name)
            tmp = out.with_suffix(".part.mp4")
            try:
                make_preview(self.ffmpeg, src, tmp, start_ms, end_ms)
                os.replace(tmp, out)
                metrics.PREVIEWS.labels("made").inc()
            except (OSError, subprocess.SubprocessError) as e:
                metrics.PREVIEWS.labels("failed").inc()
                raise MediaError(502, f"could not make a preview of {video_id}: {e}") from e
            finally:
                tmp.unlink(missing_ok=True)
                if tmp_src:
                    tmp_src.unlink(missing_ok=True)
            metrics.PREVIEW_DURATION.observe(time.perf_counter() - t0)
        self._evict()
        return out

    def _evict(self) -> None:
        files = sorted(self.preview_dir.glob("*.mp4"), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        while files and total > self.cache_bytes:
            p = files.pop(0)
            total -= p.stat().st_size
            p.unlink(missing_ok=True)


def make_preview(ffmpeg: str, src: Path, out: Path, start_ms: int, end_ms: int) -> None:
    """H.264 at 360p, no audio, fast start: a few hundred kB for a few seconds of shot."""
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-ss", f"{start_ms / 1000:.3f}",
                    "-i", str(src), "-t", f"{(end_ms - start_ms) / 1000:.3f}", "-an", "-vf", "scale=-2:360",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-pix_fmt", "yuv420p",
                    "-movflags", "+faststart", "-f", "mp4", str(out)],
                   check=True, capture_output=True, timeout=120)


def parse_range(header: str | None, size: int) -> tuple[int, int]:
    """One ``bytes=a-b`` range → inclusive (start, end); no header → the whole object."""
    if not header:
        return 0, size - 1
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        raise MediaError(416, f"unsupported range {header!r}")
    if m.group(1):
        start = int(m.group(1))
        end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
    else:
        start, end = max(0, size - int(m.group(2))), size - 1
    if start >= size or start > end:
        raise MediaError(416, f"range {header!r} outside 0..{size - 1}")
    return start, end
