"""Shared by the face tests: the photos of ../shared/faces and pictures made from them (a
still moved in front of the camera, a phone photo, a decompression bomb)."""

from __future__ import annotations

import io
import math
import struct
import time
import zlib
from collections.abc import Callable

from PIL import Image

from core.settings import ROOT

FACES = ROOT.parent / "shared" / "faces"


def photo(name: str) -> bytes:
    return (FACES / name).read_bytes()


def grey_jpeg(width: int = 640, height: int = 480) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (128, 128, 128)).save(out, "JPEG")
    return out.getvalue()


def rgba_png(name: str) -> bytes:
    out = io.BytesIO()
    with Image.open(FACES / name) as image:
        image.convert("RGBA").save(out, "PNG")
    return out.getvalue()


def wait_until(check: Callable[[], bool], seconds: float = 30.0) -> None:
    """Wait for a worker process to reach a state (bounded; fails the test on time-out)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for the worker"
        time.sleep(0.02)


def jpeg(image: Image.Image, quality: int = 90, **params: object) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality, **params)
    return out.getvalue()


def _perspective(
    source: list[tuple[float, float]], target: list[tuple[float, float]]
) -> list[float]:
    """PIL's coefficients mapping points of the output (``target``) to the input."""
    rows, values = [], []
    for (x, y), (u, v) in zip(target, source, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        values += [u, v]
    import numpy as np

    return list(np.linalg.solve(np.array(rows, float), np.array(values, float)))


def tilted(
    data: bytes, yaw: float = 0, pitch: float = 0, distance: float = 2.0, shift: float = 0
) -> bytes:
    """A picture held up to a camera: a flat print turned by ``yaw`` and ``pitch`` degrees,
    ``distance`` times its width away, moved by ``shift`` of the frame; filmed at 640x480."""
    with Image.open(io.BytesIO(data)) as opened:
        image = opened.convert("RGB")
    w, h = image.size
    out_w, out_h = 640, 480
    focal = 0.8 * out_w * distance  # untilted, the print fills 80 % of the frame's width
    a, b = math.radians(yaw), math.radians(pitch)
    corners = []
    for x, y in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)):
        X, Z = x * math.cos(a), -x * math.sin(a)
        Y, Z = y * math.cos(b) - Z * math.sin(b), y * math.sin(b) + Z * math.cos(b)
        Z += distance * w
        corners.append((out_w / 2 + shift * out_w + focal * X / Z, out_h / 2 + focal * Y / Z))
    coeffs = _perspective([(0, 0), (w, 0), (w, h), (0, h)], corners)
    moved = image.transform(
        (out_w, out_h),
        Image.Transform.PERSPECTIVE,
        coeffs,
        Image.Resampling.BICUBIC,
        fillcolor=(96, 96, 96),
    )
    return jpeg(moved, 88)


def png_bomb(side: int = 13000) -> bytes:
    """A valid PNG of ``side`` x ``side`` grey pixels, a few dozen KB: decoding it takes
    ``side``² bytes of memory (built row by row, never held whole)."""
    squeeze = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte 0, then the pixels
    body = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )
