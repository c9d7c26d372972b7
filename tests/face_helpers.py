"""Shared by the face tests: the photos of ../shared/faces and frames made from them."""

from __future__ import annotations

import io
import time
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
