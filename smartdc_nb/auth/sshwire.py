"""The SSH wire encoding of strings (RFC 4251 §5), shared by the key-file and agent code."""

from __future__ import annotations

import struct


def pack_string(value: bytes) -> bytes:
    """``uint32 length || value``."""
    return struct.pack(">I", len(value)) + value


def read_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    """The string at ``pos`` and the position after it; ValueError or struct.error if truncated."""
    (length,) = struct.unpack_from(">I", buf, pos)
    end = pos + 4 + length
    if end > len(buf):
        raise ValueError("truncated")
    return buf[pos + 4:end], end
