"""Arrow columns the parsers and the landing build the same way, without a Python object per row."""
from __future__ import annotations

import numpy as np
import pyarrow as pa


def constant(value: str, n: int) -> pa.DictionaryArray:
    """n times `value`, as a one-entry dictionary: no column of repeated strings."""
    return pa.DictionaryArray.from_arrays(np.zeros(n, np.int8), pa.array([value], pa.string()))


def repeated_list(values: pa.Array, n: int) -> pa.ListArray:
    """n rows that each hold all of `values` (a conversation's participants on each message).
    Built from offsets and one take: a Python list per row costs over a microsecond a row."""
    k = len(values)
    return pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32) * k),
                                    values.take(pa.array(np.tile(np.arange(k, dtype=np.int32), n))))


_HEX_PAIRS = np.array([ord(h[0]) | ord(h[1]) << 8 for h in (f"{i:02x}" for i in range(256))], dtype="<u2")


def hex_strings(digests: np.ndarray) -> pa.StringArray:
    """Rows of bytes (digests) as lowercase hex strings, without a Python loop."""
    n, width = digests.shape
    offsets = np.arange(0, 2 * width * n + 1, 2 * width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(_HEX_PAIRS[digests]))


def split_strings(texts: pa.StringArray) -> list[bytes]:
    """Each string's UTF-8 bytes (b"" for null), cut apart at C speed: 0xFF never occurs in UTF-8."""
    if not len(texts):
        return []
    offsets = np.frombuffer(texts.buffers()[1], np.int32, len(texts) + 1, texts.offset * 4)
    data = texts.buffers()[2]
    values = np.frombuffer(data, np.uint8, offsets[-1] - offsets[0], offsets[0]) if data else np.empty(0, np.uint8)
    return np.insert(values, offsets[1:-1] - offsets[0], 0xFF).tobytes().split(b"\xff")
