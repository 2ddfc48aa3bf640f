"""The raw message schema: one row per message as known at parse time.

Every ingester lands exactly these columns; derived fields (lang, partner_id, turn_role, ...)
are computed downstream in the dbt `messages` mart.
"""

from __future__ import annotations

import pyarrow as pa

# content_type values. `text` is ordinary writing; everything else is filtered or used as context.
CONTENT_TYPES = (
    "text",  # a message someone wrote
    "photo",
    "video",
    "audio",
    "sticker",
    "gif",
    "file",
    "contact",
    "location",  # media
    "link",  # a share of a URL (Meta shares)
    "system",  # group created, member added, encryption notice, ...
    "reaction",  # "Liked a message", "Reacted 😂 to your message"
    "call",  # voice/video calls, missed calls
    "deleted",  # unsent / "This message was deleted"
    "poll",
    "view_once",
    "email",  # an email body (Gmail)
    "calendar",  # calendar invites
)
DIRECTIONS = ("inbound", "outbound")

REACTION_TYPE = pa.struct([("actor", pa.string()), ("reaction", pa.string())])

# (name, type, nullable, description) — the single source of truth for docs and dbt.
COLUMNS: tuple[tuple[str, pa.DataType, bool, str], ...] = (
    ("platform", pa.string(), False, "Source platform: a name of ingest/core/platforms.py."),
    (
        "conversation_id",
        pa.string(),
        False,
        "Stable id of the chat/thread across re-exports (Gmail: X-GM-THRID or derived).",
    ),
    ("message_id", pa.string(), False, "Stable id of the message across re-exports (Gmail: Message-ID)."),
    ("timestamp_ms", pa.int64(), False, "When the message was sent, UTC epoch milliseconds."),
    (
        "sender",
        pa.string(),
        True,
        "Sender as shown in the export (display name, phone or address); null for system lines.",
    ),
    ("direction", pa.string(), False, "outbound when the sender is me (per config), else inbound."),
    ("participants", pa.list_(pa.string()), False, "Everyone seen in the conversation, in the export's spelling."),
    ("body_raw", pa.string(), True, "The message as exported, decoded (email: full decoded body incl. quotes)."),
    ("body_text", pa.string(), True, "What the sender actually wrote: markers, quotes and signatures removed."),
    ("subject", pa.string(), True, "Email subject; null elsewhere."),
    (
        "reply_to_message_id",
        pa.string(),
        True,
        "message_id this one answers, when the export says so (email In-Reply-To).",
    ),
    ("content_type", pa.string(), False, "One of CONTENT_TYPES."),
    ("conversation_title", pa.string(), True, "Chat name or group title as exported."),
    ("labels", pa.list_(pa.string()), True, "Gmail labels (X-Gmail-Labels); null elsewhere."),
    ("is_automated", pa.bool_(), False, "Automated mail (newsletters, no-reply, bulk); false for chats."),
    ("is_edited", pa.bool_(), False, "The export marks the message as edited."),
    ("reactions", pa.list_(REACTION_TYPE), True, "Reactions to this message (actor, emoji)."),
    ("flags", pa.list_(pa.string()), True, "Parse-time notes, e.g. date_from_envelope, forwarded, charset_fallback."),
    ("export_id", pa.string(), False, "Content hash of the export this row came from."),
    ("source_ref", pa.string(), False, "Where in the export: file and line/byte offset/JSON index."),
)

RAW_SCHEMA = pa.schema([pa.field(n, t, nullable=nl) for n, t, nl, _ in COLUMNS])
# Columns a parser fills; the landing adds platform, export_id and defaults.
PARSER_COLUMNS = tuple(n for n, *_ in COLUMNS if n not in ("platform", "export_id"))

REJECT_COLUMNS: tuple[tuple[str, pa.DataType, bool, str], ...] = (
    ("platform", pa.string(), False, "Source platform."),
    ("export_id", pa.string(), False, "Content hash of the export."),
    ("source_ref", pa.string(), False, "File and line/byte offset/JSON path of the rejected record."),
    ("reason", pa.string(), False, "Why it was rejected (never contains message text)."),
    ("raw", pa.string(), True, "The rejected input itself, so nothing is lost (stays in the warehouse)."),
)
REJECT_SCHEMA = pa.schema([pa.field(n, t, nullable=nl) for n, t, nl, _ in REJECT_COLUMNS])


# timestamp_ms must be a time a timestamp type holds (years 1 to 9999): dbt staging makes it one, and
# a single value beyond would fail the whole build. Parsers reject such records; the landing checks.
TIMESTAMP_MS_RANGE = (-62135596800000, 253402300799999)
