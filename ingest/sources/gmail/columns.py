"""Parsed Gmail messages as the raw columns: appended per message, one Arrow table per chunk."""

from __future__ import annotations

import pyarrow as pa

from ingest.core.schema import RAW_SCHEMA
from ingest.sources.gmail.mbox import RawMessage
from ingest.sources.gmail.message import Message
from ingest.sources.text import neutralise_column

REJECT_RAW_BYTES = 64 << 10  # enough to see what went wrong; the byte offset finds the rest


class Columns:
    """Rows appended straight into column lists (cheaper than a dict per row), then one Arrow table."""

    NAMES = (
        "message_id",
        "timestamp_ms",
        "sender",
        "direction",
        "participants",
        "body_raw",
        "body_text",
        "subject",
        "reply_to_message_id",
        "content_type",
        "labels",
        "is_automated",
        "flags",
        "source_ref",
    )

    def __init__(self):
        self.data: dict[str, list] = {n: [] for n in self.NAMES}

    def add(self, m: Message, source_ref: str) -> None:
        d = self.data
        d["message_id"].append(m.message_id)
        d["timestamp_ms"].append(m.timestamp_ms)
        d["sender"].append(m.sender)
        d["direction"].append("outbound" if m.outbound else "inbound")
        d["participants"].append(m.participants)
        d["body_raw"].append(m.body_raw)
        d["body_text"].append(m.body_text)
        d["subject"].append(m.subject)
        d["reply_to_message_id"].append(m.reply_to)
        d["content_type"].append(m.content_type)
        d["labels"].append(m.labels)
        d["is_automated"].append(m.is_automated)
        d["flags"].append(m.flags or None)
        d["source_ref"].append(source_ref)

    def table(self) -> pa.Table:
        columns = {n: pa.array(self.data[n], RAW_SCHEMA.field(n).type) for n in self.NAMES}
        columns["body_text"] = neutralise_column(columns["body_text"])  # one RE2 pass, not a re.sub per mail
        return pa.table(columns)


def raw_text(raw: RawMessage) -> str:
    return (raw.envelope + b"\n" + raw.data[:REJECT_RAW_BYTES]).decode("utf-8", "backslashreplace")
