"""Who "me" is: matching senders against the configured names, emails and phone numbers."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_PHONE_CHARS = re.compile(r"^[\s+()\-.\d\u00a0\u202f\u2011\u200e\u200f\u202a-\u202e\u2066-\u2069]+$")


def norm_name(name: str) -> str:
    """Case, whitespace, bidi marks, `~` and emoji/symbols ignored (as WhatsApp and Meta vary them)."""
    kept = [c for c in unicodedata.normalize("NFKC", name) if unicodedata.category(c)[0] in "LNM" or c.isspace()]
    return " ".join("".join(kept).casefold().split())


def norm_phone(text: str) -> str | None:
    """Digits of a phone number (last 9, so +44 7700 900456 matches 07700 900456), or None."""
    if not _PHONE_CHARS.match(text):
        return None
    digits = re.sub(r"\D", "", text)
    return digits[-9:] if len(digits) >= 7 else None


def norm_email(address: str) -> str:
    """Lowercase; for gmail.com drop dots and +tags from the local part, as Gmail does."""
    address = address.strip().strip("<>").lower()
    local, _, domain = address.rpartition("@")
    if not local:
        return address
    if domain in ("gmail.com", "googlemail.com"):
        local, domain = local.split("+", 1)[0].replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


@dataclass(frozen=True)
class Me:
    names: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "_names", frozenset(n for n in map(norm_name, self.names) if n))
        object.__setattr__(self, "_emails", frozenset(map(norm_email, self.emails)))
        object.__setattr__(self, "_phones", frozenset(p for p in map(norm_phone, self.phones) if p))

    def is_me(self, sender: str | None) -> bool:
        """True when a display name, phone number or email address is one of mine."""
        if not sender:
            return False
        if "@" in sender and self.is_my_email(sender):
            return True
        phone = norm_phone(sender)
        if phone and phone in self._phones:
            return True
        return norm_name(sender) in self._names

    def is_my_email(self, address: str) -> bool:
        return norm_email(address) in self._emails

    @property
    def addresses(self) -> frozenset[str]:
        """My email addresses, normalised as norm_email does."""
        return self._emails
