"""UploadVideo: a client stream of bytes → the blob store → a videos.uploaded event.

The first message carries the metadata, the rest the file. Bytes are spooled to a temporary
file (never the whole video in memory) and capped at ``max_bytes``; then the file goes to the
blob store under ``uploads/<video_id>/<upload_id><ext>`` and the event, with its ``blob://``
URI, is published and confirmed (acks=all) before the call returns. Keys are unique per
upload, so a client retrying after a lost answer makes a second upload, never a corrupt one.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterable

from shotline import topics
from shotline.blobstore import BlobStore, blob_uri, upload_key
from shotline.errors import BadInput
from shotline.events import new_meta, validate_video_id
from shotline.settings import Settings
from shotline.v1 import events_pb2, query_pb2

SPOOL_IN_MEMORY_BYTES = 8 * 1024 * 1024


class Uploads:
    def __init__(self, settings: Settings, blobs: BlobStore, producer, max_bytes: int):  # type: ignore[no-untyped-def]
        self.settings = settings
        self.blobs = blobs
        self.producer = producer
        self.max_bytes = max_bytes

    def receive(self, requests: Iterable[query_pb2.UploadVideoRequest], timeout: float) -> query_pb2.UploadVideoResponse:
        it = iter(requests)
        first = next(it, None)
        if first is None or first.WhichOneof("part") != "metadata":
            raise BadInput("bad_upload", "the first message must carry metadata")
        md = first.metadata
        video_id = validate_video_id(md.video_id) if md.video_id else uuid.uuid4().hex
        upload_id = str(uuid.uuid4())
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES) as spool:
            size = 0
            for msg in it:
                if msg.WhichOneof("part") != "chunk":
                    raise BadInput("bad_upload", "metadata may be sent only once, first")
                size += len(msg.chunk)
                if size > self.max_bytes:
                    raise BadInput("upload_too_large", f"upload is over the limit of {self.max_bytes} bytes")
                spool.write(msg.chunk)
            if size == 0:
                raise BadInput("empty_upload", "the upload carried no bytes")
            spool.seek(0)
            key = self.blobs.put_file(upload_key(video_id, upload_id, md.filename), spool)  # type: ignore[arg-type]
        uri = blob_uri(key)
        meta = new_meta(video_id, "query")
        ev = events_pb2.VideoUploaded(
            meta=meta, uri=uri, catalog_id=md.catalog_id, title=md.title or md.filename,
            description=md.description, language=md.language, metadata=dict(md.metadata), upload_id=upload_id)
        self.producer.send(self.settings.topic(topics.VIDEOS_UPLOADED), key=video_id.encode(),
                           value=ev.SerializeToString()).get(timeout=timeout)
        return query_pb2.UploadVideoResponse(video_id=video_id, upload_id=upload_id, uri=uri, bytes=size,
                                             event_id=meta.event_id)
