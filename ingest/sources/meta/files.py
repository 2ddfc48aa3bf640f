"""Finding and reading the message files of a Meta export: a folder, or its zip(s), never extracted.

Meta keeps each thread in its own folder (`<box>/<thread>/message_1.json`, message_2.json, ...),
under `your_instagram_activity/messages/`, `your_facebook_activity/messages/` or, in older
exports, `messages/`; large exports are split across several zips, and a thread's files may
land in different zips. A message file is recognised by its name wherever it is, so any of these
layouts (or a folder inside one) works; every other file is ignored.
"""

from __future__ import annotations

import contextlib
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ingest.sources import zips
from ingest.sources.base import ExportError, ExportInput
from ingest.sources.zips import UNREADABLE, check_export_total, inflation, name_error, open_zip

MESSAGE_FILE = re.compile(r"message_(\d+)\.json")
HTML_FILE = re.compile(r"message_\d+\.html")
# Meta caps a file at 10,000 messages (a few MB); anything far bigger is not a message file.
MAX_FILE_BYTES = zips.MAX_FILE_BYTES
HTML_EXPORT = (
    "this is an HTML export, which ai-me cannot read: request your messages again from Meta "
    "(Accounts Centre > Your information and permissions > Download your information) "
    "and choose the format JSON"
)


class UnreadableFile(Exception):
    """One message file cannot be read; its reason never contains message text."""


@dataclass(frozen=True)
class MessageFile:
    thread: str  # the thread's folder inside the export: groups its files
    thread_name: str  # that folder's name, e.g. "alexmorgan_1234567890": stable across exports
    number: int  # N of message_N.json: a thread's files in order
    ref: str  # for source_ref: path relative to the export, "<zip>!<member>" in a zip
    size: int  # bytes of input it accounts for (compressed size in a zip)
    read: Callable[[], bytes]  # raises UnreadableFile


def discover(paths: list[Path]) -> list[ExportInput]:
    """Each folder is one export; all zips named together are one export (Meta splits large ones)."""
    exports, zips = [], []
    for path in map(Path, paths):
        if path.is_dir():
            exports.append(_folder_export(path))
        elif path.is_file() and path.suffix.lower() == ".zip":
            zips.append(path)
        elif not path.exists():
            raise ExportError(path, None, "no such file or folder")
        else:
            raise ExportError(path, None, "expected a Meta export folder or its .zip file(s)")
    if zips:
        exports.append(_zip_export(sorted(zips)))
    return exports


def _folder_export(folder: Path) -> ExportInput:
    files = tuple(sorted(p for p in folder.rglob("message_*.json") if MESSAGE_FILE.fullmatch(p.name)))
    if not files:
        if any(folder.glob("*.zip")):
            raise ExportError(
                folder, None, "no message_N.json files here, only zip files: name the export's .zip file(s)"
            )
        _no_messages(folder, any(HTML_FILE.fullmatch(p.name) for p in folder.rglob("message_*.html")))
    return ExportInput(folder.name, files, folder)


def _zip_export(zips: list[Path]) -> ExportInput:
    names = []
    for path in zips:
        with open_zip(path) as zf:
            names += [_member_path(n).name for n in zf.namelist()]
    if not any(MESSAGE_FILE.fullmatch(n) for n in names):
        _no_messages(zips[0], any(HTML_FILE.fullmatch(n) for n in names))
    label = zips[0].name + (f" (+{len(zips) - 1} more)" if len(zips) > 1 else "")
    return ExportInput(label, tuple(zips), zips[0])


def _no_messages(where: Path, html: bool) -> None:
    raise ExportError(
        where, None, HTML_EXPORT if html else "no message_N.json files found: is this an Instagram or Messenger export?"
    )


@contextlib.contextmanager
def message_files(export: ExportInput) -> Iterator[list[MessageFile]]:
    """The export's message files, grouped by thread and in file order (zips stay open meanwhile)."""
    with contextlib.ExitStack() as stack:
        if export.root.is_dir():
            found = [_folder_file(export.root, p) for p in export.files]
        else:
            found, members = [], []
            for path in export.files:
                zf = stack.enter_context(open_zip(path))
                infos = [i for i in zf.infolist() if MESSAGE_FILE.fullmatch(_member_path(i.filename).name)]
                members += [(path, i) for i in infos]
                found += [_zip_file(path, zf, info) for info in infos]
            # what the files to be read would inflate to, all told (those over a member's cap are not read)
            check_export_total(
                (path, i) for path, i in members if i.file_size <= MAX_FILE_BYTES and not inflation(i, "zip member")
            )
        yield sorted(found, key=lambda f: (f.thread, f.number, f.ref))


def _folder_file(root: Path, path: Path) -> MessageFile:
    rel = path.relative_to(root)
    size = path.stat().st_size

    def read() -> bytes:
        if size > MAX_FILE_BYTES:
            raise UnreadableFile(f"file of {size} bytes is larger than a message file can be")
        try:
            return path.read_bytes()
        except OSError as e:
            raise UnreadableFile(f"cannot read file: {e.strerror}") from None

    return MessageFile(rel.parent.as_posix(), path.parent.name, _number(path.name), rel.as_posix(), size, read)


def _member_path(name: str) -> PurePosixPath:
    return PurePosixPath(name.replace("\\", "/"))  # zips made on Windows may use backslashes


def _zip_file(zip_path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> MessageFile:
    member = _member_path(info.filename)
    ref = f"{zip_path.name}!{info.filename}"
    unsafe = member.is_absolute() or ".." in member.parts or re.match(r"[A-Za-z]:", info.filename)

    def read() -> bytes:
        if unsafe:
            raise UnreadableFile("refused zip member with an absolute or parent (..) path")
        return _read_member(zf, info)

    return MessageFile(
        member.parent.as_posix(),
        member.parent.name or zip_path.stem,
        _number(member.name),
        ref,
        info.compress_size,
        read,
    )


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """Read one member into memory, at most its declared size (checked against the cap first):
    zipfile stops inflating there and checks the CRC, so a header that lies about the size ends
    in an error instead of an unbounded read."""
    if info.file_size > MAX_FILE_BYTES:
        raise UnreadableFile(f"zip member of {info.file_size} bytes is larger than a message file can be")
    if why := inflation(info, "zip member"):
        raise UnreadableFile(why)
    try:
        with zf.open(info) as f:
            return f.read()
    except UnicodeDecodeError as e:  # its local header's name, flagged as UTF-8
        raise UnreadableFile(f"corrupt zip member ({name_error(e)})") from None
    except UNREADABLE as e:
        raise UnreadableFile(f"corrupt zip member ({type(e).__name__}: {e})") from None


def _number(name: str) -> int:
    return int(MESSAGE_FILE.fullmatch(name).group(1))
