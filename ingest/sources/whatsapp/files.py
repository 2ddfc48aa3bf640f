"""Where a WhatsApp chat's bytes come from: a .txt, or the .zip the app exports.

The chat's name (and so its conversation id) comes from the file name, which WhatsApp sets to
"WhatsApp Chat with <name>.txt" (Android) or "WhatsApp Chat - <name>.zip" holding `_chat.txt`
(iOS). Zip members are streamed, never extracted to disk, and only from safe paths below the size
and compression-ratio caps (zips.py).
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ingest.sources import zips
from ingest.sources.base import ExportError, ExportInput, single_files
from ingest.sources.text import strip_bidi
from ingest.sources.zips import DAMAGED_DATA, inflation, name_error, open_zip

CHAT_SUFFIXES = (".txt", ".zip")
MAX_MEMBER_BYTES = zips.MAX_CHAT_BYTES  # a chat text above 2 GiB uncompressed is not a real export
IOS_MEMBER = "_chat.txt"
_READABLE_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)

# "WhatsApp Chat with X" and its translations; iOS writes "WhatsApp Chat - X".
_TITLE_RE = re.compile(
    r"^(?:WhatsApp[ -]Chat(?: with| mit| met)?(?: -)?|Chat de WhatsApp con"
    r"|Conversa do WhatsApp com|Discussion WhatsApp avec|Chat WhatsApp con)\s+(?P<name>.+)$",
    re.IGNORECASE,
)
_COPY_SUFFIX_RE = re.compile(r" \(\d+\)$")  # "... (1).txt" from a second download


def discover(paths: list[Path]) -> list[ExportInput]:
    """Each chat .txt or .zip is one export; a folder contributes every chat file inside it."""
    return [ExportInput(_label(f), (f,), f) for f in single_files(paths, CHAT_SUFFIXES)]


def _label(path: Path) -> str:
    return f"{path.parent.name}/{path.name}" if path.name == IOS_MEMBER else path.name


def chat_title(file_name: str, container: Path | None = None) -> str:
    """The chat's name from "WhatsApp Chat with X.txt"; `_chat.txt` takes its zip's or folder's name."""
    stem = PurePosixPath(file_name).stem
    if stem == IOS_MEMBER[:-4] and container is not None:
        stem = container.stem if container.suffix.lower() == ".zip" else container.name
    stem = _COPY_SUFFIX_RE.sub("", strip_bidi(unicodedata.normalize("NFC", stem)).strip())
    match = _TITLE_RE.match(stem)
    return match["name"].strip() if match else stem


@dataclass(frozen=True)
class ChatSource:
    """One chat text: how to name it, how to read it, and how its bytes map to progress."""

    display: str  # the file (or zip!member) named in errors and source_ref
    title: str  # the chat's name
    size: int  # bytes of chat text
    progress_scale: float  # input-file bytes per chat-text byte (a zip is compressed)
    open: Callable[[], BinaryIO]


@contextmanager
def open_chat(export: ExportInput) -> Iterator[ChatSource]:
    path = export.files[0]
    if path.suffix.lower() != ".zip":
        yield ChatSource(
            _label(path), chat_title(path.name, path.parent), path.stat().st_size, 1.0, lambda: open(path, "rb")
        )
        return
    zf = open_zip(path)
    member = None
    try:
        with zf:
            member = _chat_member(zf, path)
            title = chat_title(member.filename, path)
            scale = member.compress_size / member.file_size if member.file_size else 1.0
            # zipfile stops at the size the header declares and then checks the CRC, so a lying
            # header ends in BadZipFile rather than in unbounded reading
            yield ChatSource(
                f"{path.name}!{member.filename}", title, member.file_size, scale, lambda: _open_member(zf, member, path)
            )
    except zipfile.BadZipFile as e:
        raise ExportError(path, None, f"not a readable zip file ({e})") from None
    except DAMAGED_DATA as e:  # found while the chat is read (parser errors pass through untouched)
        raise ExportError(path, member and member.filename, f"corrupt zip member ({type(e).__name__}: {e})") from None


def _open_member(zf: zipfile.ZipFile, member: zipfile.ZipInfo, path: Path) -> BinaryIO:
    try:
        return zf.open(member)
    except (NotImplementedError, RuntimeError) as e:  # flags zipfile cannot handle (patched data, encryption)
        raise ExportError(path, member.filename, f"cannot read the chat text from the zip ({e})") from None
    except UnicodeDecodeError as e:  # its local header's name, flagged as UTF-8
        raise ExportError(path, member.filename, f"corrupt zip member ({name_error(e)})") from None


def _chat_member(zf: zipfile.ZipFile, path: Path) -> zipfile.ZipInfo:
    """The chat text in an export zip: `_chat.txt`, "WhatsApp Chat with X.txt", or its only .txt."""
    texts = [i for i in zf.infolist() if not i.is_dir() and i.filename.lower().endswith(".txt")]
    safe = [i for i in texts if _is_safe_member(i.filename)]
    named = [
        i
        for i in safe
        if PurePosixPath(i.filename).name == IOS_MEMBER or _TITLE_RE.match(PurePosixPath(i.filename).stem)
    ]
    chosen = named or (safe if len(safe) == 1 else [])
    if not chosen:
        why = (
            "only unsafe member paths"
            if texts and not safe
            else "several .txt files, none named like a chat"
            if safe
            else "no chat .txt file"
        )
        raise ExportError(path, None, f"not a WhatsApp chat export zip: {why}")
    member = chosen[0]
    if member.flag_bits & 0x1:
        raise ExportError(path, member.filename, "the chat text is encrypted (a password-protected zip)")
    if member.compress_type not in _READABLE_METHODS:
        raise ExportError(
            path,
            member.filename,
            f"the chat text uses zip compression method {member.compress_type}, which cannot be read",
        )
    if member.file_size > min(MAX_MEMBER_BYTES, zips.MAX_EXPORT_BYTES):
        raise ExportError(
            path,
            member.filename,
            f"chat text of {member.file_size} bytes exceeds the "
            f"{min(MAX_MEMBER_BYTES, zips.MAX_EXPORT_BYTES)} byte limit",
        )
    if why := inflation(member, "chat text"):
        raise ExportError(path, member.filename, why)
    return member


def _is_safe_member(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return not (name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts)


def read_after(stream: BinaryIO, prefix: bytes, size: int) -> bytearray:
    """`prefix` followed by up to `size` bytes of the stream, read into one buffer (a large block
    copied around several times costs memory the allocator does not give back)."""
    data = bytearray(len(prefix) + size)
    data[: len(prefix)] = prefix
    got = len(prefix)
    with memoryview(data) as view:
        while got < len(data) and (n := stream.readinto(view[got:])):
            got += n
    del data[got:]
    return data
