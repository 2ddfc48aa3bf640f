"""The system prompt of every training example and of generation.

The dbt macro `system_prompt` (dbt_project/macros/text.sql) builds the same text in SQL from the
same template (the user's `dataset.system_prompt`, by default DEFAULT_TEMPLATE) with the same
placeholders filled in the same order; tests pin the default text. A run records the template
it was trained with, so generation prompts exactly as training did.
"""

from __future__ import annotations

import re

from ingest.core.platforms import TABLE

DEFAULT_TEMPLATE = "You are {me}. Reply as {me} would in {chat} with {partner} ({size})."
PLACEHOLDERS = ("me", "chat", "partner", "size")

# How each platform's conversation is named in the prompt ({chat}).
CHAT_NOUNS = {p.name: p.chat_noun for p in TABLE}


def system_prompt(
    me_name: str, platform: str, partner: str, group_size: int = 2, template: str = DEFAULT_TEMPLATE
) -> str:
    """E.g. "You are Robin. Reply as Robin would in a WhatsApp chat with P3f2a (1:1)."

    `partner` is the pseudonymised name of the other person (or the group's); `group_size`
    counts everyone in the conversation, the user included.
    """
    if platform not in CHAT_NOUNS:
        raise ValueError(f"unknown platform {platform!r} (known: {', '.join(CHAT_NOUNS)})")
    values = {
        "me": me_name,
        "chat": CHAT_NOUNS[platform],
        "partner": partner,
        "size": "1:1" if group_size <= 2 else f"group of {group_size}",
    }
    text = template
    for name in PLACEHOLDERS:  # plain replacement in this order, as the SQL does
        text = text.replace("{" + name + "}", values[name])
    return text


def me_name_from_prompt(prompt: str, template: str = DEFAULT_TEMPLATE) -> str | None:
    """The user's name in a prompt made from `template`, or None if it was not made from it."""
    pattern, seen_me = "", False
    for part in re.split(r"(\{(?:me|chat|partner|size)\})", template):
        if part == "{me}":
            pattern += "(?P=me)" if seen_me else "(?P<me>.+?)"
            seen_me = True
        elif part in ("{chat}", "{partner}", "{size}"):
            pattern += ".*?"
        else:
            pattern += re.escape(part)
    match = re.fullmatch(pattern, prompt, flags=re.DOTALL) if seen_me else None
    return match["me"] if match else None
