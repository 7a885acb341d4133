"""A tiny RGB raster canvas and PNG encoder, standard library only.

The publish Lambda may not ship matplotlib or numpy (package size and cold start), yet a
forecast report needs a picture of each important series. Lines, a filled band and an axes box
are all it takes; labels live in the HTML around the image, so no font rendering is needed.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from itertools import pairwise

Color = tuple[int, int, int]
Point = tuple[float, float]  # pixel coordinates: x to the right, y downwards

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WHITE: Color = (255, 255, 255)


class Canvas:
    """A width × height RGB image, row-major, 3 bytes per pixel, drawn by integer pixels."""

    def __init__(self, width: int, height: int, background: Color = WHITE) -> None:
        if width < 1 or height < 1:
            raise ValueError(f"canvas size {width}x{height}; expected at least 1x1 pixels")
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(_checked(background)) * (width * height))

    def set(self, x: int, y: int, color: Color) -> None:
        """Paint one pixel; points outside the canvas are clipped silently."""
        if 0 <= x < self.width and 0 <= y < self.height:
            offset = 3 * (y * self.width + x)
            self.pixels[offset : offset + 3] = bytes(color)

    def get(self, x: int, y: int) -> Color:
        offset = 3 * (y * self.width + x)
        red, green, blue = self.pixels[offset : offset + 3]
        return (red, green, blue)

    def dot(self, x: int, y: int, color: Color, size: int = 1) -> None:
        """A size × size square centred on (x, y): the pen for lines thicker than one pixel."""
        start = -(size // 2)
        for dy in range(start, start + size):
            for dx in range(start, start + size):
                self.set(x + dx, y + dy, color)

    def line(self, start: Point, end: Point, color: Color, width: int = 1) -> None:
        """Bresenham's line between two points, stamped with a ``width`` pen."""
        x0, y0 = round(start[0]), round(start[1])
        x1, y1 = round(end[0]), round(end[1])
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        step_x = 1 if x0 < x1 else -1
        step_y = 1 if y0 < y1 else -1
        error = dx + dy
        while True:
            self.dot(x0, y0, color, width)
            if x0 == x1 and y0 == y1:
                return
            double = 2 * error
            if double >= dy:
                error += dy
                x0 += step_x
            if double <= dx:
                error += dx
                y0 += step_y

    def polyline(self, points: Sequence[Point], color: Color, width: int = 1) -> None:
        """Connected segments; a single point is drawn as a dot so it stays visible."""
        if len(points) == 1:
            self.dot(round(points[0][0]), round(points[0][1]), color, width + 2)
        for start, end in pairwise(points):
            self.line(start, end, color, width)

    def fill_between(self, upper: Sequence[Point], lower: Sequence[Point], color: Color) -> None:
        """Fill every pixel column between two polylines (each sorted by x).

        Both edges are interpolated at each column they share, so the band works even when
        the two polylines have different x positions.
        """
        if not upper or not lower:
            return
        first = max(upper[0][0], lower[0][0])
        last = min(upper[-1][0], lower[-1][0])
        for x in range(round(first), round(last) + 1):
            column = min(max(float(x), first), last)
            top, bottom = sorted((_interpolate(upper, column), _interpolate(lower, column)))
            for y in range(round(top), round(bottom) + 1):
                self.set(x, y, color)

    def rectangle(self, left: int, top: int, right: int, bottom: int, color: Color) -> None:
        """The outline of a rectangle (the axes box)."""
        self.line((left, top), (right, top), color)
        self.line((right, top), (right, bottom), color)
        self.line((right, bottom), (left, bottom), color)
        self.line((left, bottom), (left, top), color)

    def to_png(self) -> bytes:
        return encode_png(self.width, self.height, bytes(self.pixels))


def encode_png(width: int, height: int, rgb: bytes) -> bytes:
    """An 8-bit truecolour, non-interlaced PNG (RFC 2083) of ``rgb`` rows, top row first.

    Every scanline gets filter type 0 (None): the images are small and mostly flat colour,
    which zlib compresses well without per-row filtering.
    """
    stride = 3 * width
    if len(rgb) != stride * height:
        raise ValueError(
            f"pixel data has {len(rgb)} bytes; expected {stride * height} for a "
            f"{width}x{height} RGB image"
        )
    raw = b"".join(b"\x00" + rgb[row * stride : (row + 1) * stride] for row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        (
            PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(raw, 9)),
            _chunk(b"IEND", b""),
        )
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    """Length, type, data, and the CRC-32 of type and data, as the PNG format lays out a chunk."""
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _interpolate(points: Sequence[Point], x: float) -> float:
    """y of the polyline at ``x`` (linear between neighbours, clamped at the ends)."""
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in pairwise(points):
        if x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


def _checked(color: Color) -> Color:
    if len(color) != 3 or not all(0 <= channel <= 255 for channel in color):
        raise ValueError(f"colour {color!r}; expected three channels from 0 to 255")
    return color
