"""Zip exports are read in place, never extracted; zipfile's many ways of failing on a damaged or
unusual archive end in one clear error naming the file. (An OSError on opening is an I/O problem,
not a damaged zip: the runner reports it as such.)

The size caps of the whole ingest live here, so that a zip bomb is refused from its headers,
before any of it is inflated. zipfile stops inflating a member at the size its header declares
(and then checks the CRC), so the declared sizes bound what is read, whatever the data holds.
The two caps on one file are read where they apply, under the names tests lower them by:
MAX_CHAT_BYTES as whatsapp_source.MAX_MEMBER_BYTES, MAX_FILE_BYTES as meta_files.MAX_FILE_BYTES.
The others are read from this module when they are applied, so lowering them here takes effect.
"""

from __future__ import annotations

import io
import lzma
import struct
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

from ingest.sources.base import ExportError

# --- the caps -------------------------------------------------------------------------------------
MAX_CHAT_BYTES = 2 << 30  # one WhatsApp chat text (a .txt, or the zip member): 2 GiB
MAX_FILE_BYTES = 256 << 20  # one Meta message_N.json (Meta writes at most 10,000 messages, a few MB)
MAX_EXPORT_BYTES = 4 << 30  # all the members one zipped export reads, added up (declared sizes)
MAX_COMPRESSION_RATIO = 100  # uncompressed : compressed of one member; text deflates 3-15 : 1
RATIO_FREE_BYTES = 4 << 20  # ... checked only for members larger than this (small ones cost nothing)
MAX_MESSAGE_TEXT_BYTES = 1 << 20  # one message's text (UTF-8), every platform: a longer one is rejected

# What zipfile raises on damaged member data: corrupt deflate/LZMA/bzip2 (an OSError) streams,
# truncation, bad CRC, and a local header whose name is flagged UTF-8 but is not.
DAMAGED_DATA = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, UnicodeDecodeError)
# ... and on members it cannot read at all: encryption, unknown methods, newer zip versions.
UNREADABLE = (*DAMAGED_DATA, NotImplementedError, RuntimeError)

_UTF8_NAME = 0x800  # general purpose flag bit 11: the member's name is UTF-8


def open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return _open(path)
    except UnicodeDecodeError as e:  # a name flagged as UTF-8 that not even cp437 could stand in for
        name = e.object.decode("utf-8", "backslashreplace") if isinstance(e.object, bytes) else "?"
        raise ExportError(path, None, f"not a readable zip file (member {name!r}: {name_error(e)})") from None
    except (zipfile.BadZipFile, NotImplementedError, ValueError, struct.error) as e:  # e.g. "zip file version 11.0"
        raise ExportError(path, None, f"not a readable zip file ({e})") from None


def _open(path: Path) -> zipfile.ZipFile:
    """The zip, also when a member's name is flagged as UTF-8 but is not (zipfile then raises
    UnicodeDecodeError for the whole archive): such names are read as cp437, the encoding of
    unflagged names, so the rest of the export still lands."""
    try:
        return zipfile.ZipFile(path)
    except UnicodeDecodeError as e:
        bad_name = e
    raw = open(path, "rb")
    try:
        try:
            fixes = _utf8_flag_fixes(raw)
        except (AttributeError, struct.error, OSError):  # zipfile's internals moved: the name error stands
            raise bad_name from None
        zf = zipfile.ZipFile(_PatchedFile(raw, fixes))
    except BaseException:
        raw.close()
        raise
    zf._filePassed = False  # the zip owns the file: closing it (its last reader) closes the file
    return zf


def _utf8_flag_fixes(fp) -> dict[int, bytes]:
    """Offset -> replacement of the flag bits of each header (central, and local where its offset
    is at hand) whose name is flagged as UTF-8 but is not valid UTF-8: the flag cleared."""
    endrec = zipfile._EndRecData(fp)
    if not endrec:
        raise zipfile.BadZipFile("File is not a zip file")
    size_cd, offset_cd = endrec[zipfile._ECD_SIZE], endrec[zipfile._ECD_OFFSET]
    concat = endrec[zipfile._ECD_LOCATION] - size_cd - offset_cd  # bytes before the zip, as zipfile reckons
    if endrec[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:
        concat -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator
    start = offset_cd + concat
    fp.seek(start)
    directory = fp.read(size_cd)
    fixes, at = {}, 0
    while at + 46 <= len(directory) and directory[at : at + 4] == b"PK\x01\x02":
        (flags,) = struct.unpack_from("<H", directory, at + 8)
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", directory, at + 28)
        (local,) = struct.unpack_from("<I", directory, at + 42)
        if flags & _UTF8_NAME and not _is_utf8(directory[at + 46 : at + 46 + name_len]):
            fixes[start + at + 8] = struct.pack("<H", flags & ~_UTF8_NAME)
            if local != 0xFFFFFFFF and local + concat >= 0:  # else: opening that member fails, alone
                fp.seek(local + concat)
                header = fp.read(8)
                if len(header) == 8 and header[:4] == b"PK\x03\x04":
                    (local_flags,) = struct.unpack_from("<H", header, 6)
                    fixes[local + concat + 6] = struct.pack("<H", local_flags & ~_UTF8_NAME)
        at += 46 + name_len + extra_len + comment_len
    return fixes


def _is_utf8(name: bytes) -> bool:
    try:
        name.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


class _PatchedFile(io.RawIOBase):
    """A read-only file with a few bytes replaced as it is read."""

    def __init__(self, raw, fixes: dict[int, bytes]):
        super().__init__()
        self._raw, self._fixes = raw, fixes

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def readinto(self, buffer) -> int:
        at = self._raw.tell()
        n = self._raw.readinto(buffer)
        for offset, value in self._fixes.items():
            for i, byte in enumerate(value):
                if 0 <= offset + i - at < n:
                    buffer[offset + i - at] = byte
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


# --- applying the caps ------------------------------------------------------------------------------


def inflation(info: zipfile.ZipInfo, what: str) -> str | None:
    """Why the member must not be inflated, from its declared compression ratio; None if it may."""
    if info.file_size > RATIO_FREE_BYTES and info.file_size > MAX_COMPRESSION_RATIO * info.compress_size:
        ratio = f"{info.file_size // info.compress_size}:1" if info.compress_size else "from nothing"
        return (
            f"{what} of {info.file_size} bytes is inflated {ratio}, above the {MAX_COMPRESSION_RATIO}:1 "
            f"limit of a real export (a zip bomb?)"
        )
    return None


def check_export_total(members: Iterable[tuple[Path, zipfile.ZipInfo]]) -> None:
    """ExportError, naming the zip and member that goes over, when the members an export will read
    add up to more than MAX_EXPORT_BYTES uncompressed."""
    total = 0
    for path, info in members:
        total += info.file_size
        if total > MAX_EXPORT_BYTES:
            raise ExportError(
                path,
                info.filename,
                f"the export's message files add up to more than the "
                f"{MAX_EXPORT_BYTES} byte limit of one export, uncompressed",
            )


def name_error(e: UnicodeDecodeError) -> str:
    return f"member name flagged as UTF-8 is not valid UTF-8 (byte {e.start})"


def text_too_long(size: int) -> str:
    """The reject reason of a message whose text is `size` bytes, over MAX_MESSAGE_TEXT_BYTES."""
    return f"message text of {size} bytes exceeds the {MAX_MESSAGE_TEXT_BYTES} byte limit of one message"
