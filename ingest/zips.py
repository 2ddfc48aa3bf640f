"""Zip exports are read in place, never extracted; zipfile's many ways of failing on a damaged or
unusual archive end in one clear error naming the file. (An OSError on opening is an I/O problem,
not a damaged zip: the runner reports it as such.)"""
from __future__ import annotations

import lzma
import zipfile
import zlib
from pathlib import Path

from .base import ExportError

# What zipfile raises on damaged member data: corrupt deflate/LZMA/bzip2 (an OSError) streams,
# truncation, bad CRC.
DAMAGED_DATA = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError)
# ... and on members it cannot read at all: encryption, unknown methods, newer zip versions.
UNREADABLE = (*DAMAGED_DATA, NotImplementedError, RuntimeError)


def open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, NotImplementedError, ValueError) as e:   # e.g. "zip file version 11.0"
        raise ExportError(path, None, f"not a readable zip file ({e})") from None
