"""Example counts for hypothesis tests: a test's own CI-sized count by default; under `make fuzz`
(HYPOTHESIS_PROFILE=fuzz, registered in conftest.py) the profile's much larger one."""

import io
import os
import struct
import zipfile

from hypothesis import HealthCheck, settings

FUZZING = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"


def examples(n: int) -> settings:
    base = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    return base if FUZZING else settings(base, max_examples=n)


def utf8_flagged(
    members: list[tuple[str, bytes]], target: str, local: bool = True, central: bool = True, bad: bytes = b"\xff\xfe"
) -> bytes:
    """A zip of members in which `target`'s name starts with `bad` (invalid UTF-8) in its local and/or
    central header, with general purpose flag bit 11 (0x800, "the name is UTF-8") set there
    (issue #26: zipfile raised UnicodeDecodeError)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name, (2023, 1, 1, 0, 0, 0)), data, compress_type=zipfile.ZIP_DEFLATED)
    data = bytearray(buf.getvalue())
    name = target.encode()
    for signature, flags_at, name_at, wanted in ((b"PK\x03\x04", 6, 30, local), (b"PK\x01\x02", 8, 46, central)):
        at = data.find(signature)
        while wanted and at >= 0:
            if data[at + name_at : at + name_at + len(name)] == name:
                data[at + name_at : at + name_at + len(bad)] = bad
                struct.pack_into("<H", data, at + flags_at, struct.unpack_from("<H", data, at + flags_at)[0] | 0x800)
            at = data.find(signature, at + 4)
    return bytes(data)
