"""Test helpers for the HTML report: render it in headless Chromium, decode the screenshot.

The PNG decoder is pure Python (no Pillow): Chromium mostly writes the None, Sub and Up row
filters, which are done a whole row at a time on big integers (SWAR), so decoding a 1400x2000
screenshot takes well under a second; Average and Paeth rows fall back to a byte loop.
"""

from __future__ import annotations

import os
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--force-color-profile=srgb")


def chromium_or_skip() -> Path:
    """Chromium, or skip locally; in CI (env CI set) a missing browser is a failure."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail("chromium is required in CI: apt-get install -y chromium fonts-liberation "
                    "fonts-dejavu-core")
    pytest.skip("headless chromium not installed (/usr/bin/chromium)")


def render(page: Path, workdir: Path, size: tuple[int, int] = (1400, 2000)
           ) -> tuple[Path, str]:
    """Screenshot and rendered DOM of `page`; both browsers run at once to halve the wait."""
    browser = chromium_or_skip()
    png = workdir / "screenshot.png"
    url = page.resolve().as_uri()

    def launch(name: str, *extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(browser), *FLAGS, f"--user-data-dir={workdir / name}", *extra, url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    shot = launch("profile-shot", f"--screenshot={png}", f"--window-size={size[0]},{size[1]}")
    dump = launch("profile-dom", "--dump-dom")
    dom, dom_err = dump.communicate(timeout=60)
    _, shot_err = shot.communicate(timeout=60)
    assert dump.returncode == 0 and dom, dom_err[-2000:]
    assert shot.returncode == 0 and png.exists(), shot_err[-2000:]
    return png, dom


_LOW = {}
_HIGH = {}


def _masks(n: int) -> tuple[int, int]:
    if n not in _LOW:
        _LOW[n], _HIGH[n] = int.from_bytes(b"\x7f" * n, "big"), int.from_bytes(b"\x80" * n, "big")
    return _LOW[n], _HIGH[n]


def _add(a: int, b: int, n: int) -> int:
    """Bytewise (a + b) mod 256 of two n-byte big integers, no carry between bytes."""
    low, high = _masks(n)
    return ((a & low) + (b & low)) ^ ((a ^ b) & high)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def decode_png(path: Path) -> tuple[int, int, int, list[bytes]]:
    """(width, height, bytes per pixel, rows) of an 8-bit, non-interlaced RGB(A) PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, bytearray()
    while pos < len(data):
        (n,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        chunk = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
        elif kind == b"IDAT":
            idat += chunk
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(bytes(idat))
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytes(stride)
    for y in range(height):
        filt, line = raw[y * (stride + 1)], raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)]
        if filt == 0:
            cur = line
        elif filt in (1, 2):
            v = int.from_bytes(line, "big")
            if filt == 2:
                v = _add(v, int.from_bytes(prev, "big"), stride)
            else:  # inclusive prefix sum with stride bpp, in log2(width) whole-row steps
                shift = bpp
                while shift < stride:
                    v = _add(v, v >> (8 * shift), stride)
                    shift *= 2
            cur = v.to_bytes(stride, "big")
        else:
            out = bytearray(line)
            for i in range(stride):
                a = out[i - bpp] if i >= bpp else 0
                c = prev[i - bpp] if i >= bpp else 0
                pred = (a + prev[i]) >> 1 if filt == 3 else _paeth(a, prev[i], c)
                out[i] = (out[i] + pred) & 0xFF
            cur = bytes(out)
        rows.append(cur)
        prev = cur
    return width, height, bpp, rows


def colour_counts(rows: list[bytes], bpp: int, y0: int = 0, y1: int | None = None
                  ) -> Counter[tuple[int, int, int]]:
    """How many pixels of each RGB colour rows y0..y1 hold."""
    counts: Counter[tuple[int, int, int]] = Counter()
    for row in rows[y0:y1]:
        counts.update(zip(row[0::bpp], row[1::bpp], row[2::bpp], strict=True))
    return counts

