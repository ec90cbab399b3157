"""Tour step for the video worker: a tiny valid MP4 and PNG in the bucket, one event job about them."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

from devstack.stack import BUCKET, LocalStack
from devstack.tour_support import DEMO_USER, Tour, TourError

ORDER = 0
VIDEO_KEY = f"uploads/{DEMO_USER}/first-video.mp4"
THUMBNAIL_KEY = f"uploads/{DEMO_USER}/first-video.png"
# `make dev` uploads these two objects, so the example job it prints (and QUICK-START shows) works as pasted.
EXAMPLE_VIDEO_KEY = "uploads/v.mp4"
EXAMPLE_THUMBNAIL_KEY = "uploads/v.png"
EXAMPLE_PAYLOAD = json.dumps({"video_key": EXAMPLE_VIDEO_KEY, "thumbnail_key": EXAMPLE_THUMBNAIL_KEY})


def sample_mp4() -> bytes:
    """The smallest well-formed MP4: an `ftyp` box and an empty `mdat` box."""
    ftyp = struct.pack(">I4s4sI4s4s", 24, b"ftyp", b"isom", 0x200, b"isom", b"mp41")
    return ftyp + struct.pack(">I4s", 8, b"mdat")


def sample_png() -> bytes:
    """A valid 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x3c\x8c\xdc")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def upload_samples(stack: LocalStack, video_key: str, thumbnail_key: str) -> str:
    s3 = stack.s3_client()
    s3.put_object(Bucket=BUCKET, Key=video_key, Body=sample_mp4(), ContentType="video/mp4")
    s3.put_object(Bucket=BUCKET, Key=thumbnail_key, Body=sample_png(), ContentType="image/png")
    return f"s3://{BUCKET}/{video_key} (video/mp4), s3://{BUCKET}/{thumbnail_key} (image/png)"


def prepare(tour: Tour) -> None:
    tour.step("upload a sample video and its thumbnail to the bucket")
    tour.say(upload_samples(tour.stack, VIDEO_KEY, THUMBNAIL_KEY))


def seed_example(stack: LocalStack) -> str:
    """What EXAMPLE_PAYLOAD refers to, put in place by `make dev`."""
    return upload_samples(stack, EXAMPLE_VIDEO_KEY, EXAMPLE_THUMBNAIL_KEY)


def payload(tour: Tour) -> dict[str, Any]:
    return {"video_key": VIDEO_KEY, "thumbnail_key": THUMBNAIL_KEY, "user_id": DEMO_USER}


def check(tour: Tour) -> list[str]:
    row = tour.conn.execute("SELECT status, tags FROM videos WHERE video_key = %s", (VIDEO_KEY,)).fetchone()
    if row is None or row[0] != "tagged":
        raise TourError(f"the video row is {row!r}, expected status 'tagged'")
    return [f"video {VIDEO_KEY} tagged {', '.join(row[1])} (row in videos)"]
