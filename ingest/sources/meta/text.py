"""Undoing Meta's export encoding for a whole column at once (see text.repair_meta_mojibake)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ingest.sources.text import repair_meta_mojibake


class Repairer:
    """Repairs strings; `repair_column` takes the fast path when a whole column is Meta-encoded."""

    repair = staticmethod(repair_meta_mojibake)

    def repair_column(self, texts: list) -> pa.StringArray:
        """repair() of every text as an Arrow array, with "" and None as null. When every text is
        Meta-encoded (the usual case) the latin-1 bytes of the texts are the UTF-8 of the repaired
        ones, so the array is built from them at once and only checked to be valid UTF-8."""
        present = np.fromiter(map(bool, texts), bool, len(texts))
        try:
            data = "".join(filter(None, texts)).encode("latin-1")
        except UnicodeEncodeError:  # some code point beyond latin-1
            data = None
        if data is not None:
            offsets = np.zeros(len(texts) + 1, np.int32)
            offsets[1:][present] = list(map(len, filter(None, texts)))
            repaired = pa.Array.from_buffers(
                pa.string(),
                len(texts),
                [
                    pa.py_buffer(np.packbits(present, bitorder="little")),
                    pa.py_buffer(np.cumsum(offsets, dtype=np.int32)),
                    pa.py_buffer(data),
                ],
            )
            try:
                repaired.validate(full=True)  # each text valid UTF-8: each round trip holds
                return repaired
            except pa.ArrowInvalid:
                pass
        return pa.array([self.repair(t) if t else None for t in texts], pa.string())
