"""Conversations of Gmail messages: X-GM-THRID, else a thread derived from replies and subjects."""

from __future__ import annotations

import hashlib
import re
import sys
from itertools import islice

_REPLY_PREFIX = re.compile(
    r"^(?:\s*(?:re|fwd?|aw|wg|tr|sv|vs|antw|odp|rif|r|res|enc|rv|ynt|fs|ref|doorst|trans|ответ|пересл)"
    r"\s*(?:\[\d+\])?\s*[:：])+\s*",
    re.I,
)


class Threads:
    """conversation_id: "gmail:" + X-GM-THRID when the export has it (Takeout always does).

    Otherwise the thread is derived: the conversation of the parent (In-Reply-To) or of the root
    (first References id) when already seen, else a hash of that root; a reply without references
    joins the last thread with the same normalised subject. Memory is bounded: the oldest ids are
    forgotten first.
    """

    def __init__(self, limit: int = 100_000):
        self.limit = limit
        self.by_message: dict[int, str] = {}
        self.by_subject: dict[str, str] = {}

    def conversation_of(
        self,
        thread_id: str | None,
        message_id: str,
        reply_to: str | None,
        root_reference: str | None,
        subject: str | None,
    ) -> str:
        if thread_id:
            conversation = sys.intern("gmail:" + thread_id)  # one string per thread, not per message
        else:
            conversation = self._derived(message_id, reply_to, root_reference, subject)
        self._remember(self.by_message, hash(message_id), conversation)
        return conversation

    def _derived(self, message_id: str, reply_to: str | None, root_reference: str | None, subject: str | None) -> str:
        for parent in filter(None, (reply_to, root_reference)):
            known = self.by_message.get(hash(parent))
            if known:
                return known
        root = root_reference or reply_to
        normalised = normalised_subject(subject)
        if root is None and normalised and _REPLY_PREFIX.match(subject):
            known = self.by_subject.get(normalised)  # a reply that lost its references
            if known:
                return known
        conversation = "gmail:h" + hashlib.blake2b((root or message_id).encode(), digest_size=8).hexdigest()
        if normalised:
            self._remember(self.by_subject, normalised, conversation)
        return conversation

    def _remember(self, table: dict, key, value: str) -> None:
        table[key] = value
        if len(table) > self.limit:
            for old in list(islice(table, self.limit // 10)):
                del table[old]


def normalised_subject(subject: str | None) -> str:
    return " ".join(_REPLY_PREFIX.sub("", subject).split()).casefold() if subject else ""
