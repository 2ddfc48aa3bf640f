"""The documented queries, read from examples.sql: the one place both `ai-me sql --example` and
docs/analysis.md take them from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

EXAMPLES_FILE = Path(__file__).with_name("examples.sql")
_HEADER = re.compile(r"^-- name: (?P<name>[a-z0-9-]+)\n-- (?P<description>.+)\n", re.M)


@dataclass(frozen=True)
class Example:
    name: str
    description: str
    sql: str


@cache
def examples() -> dict[str, Example]:
    text = EXAMPLES_FILE.read_text(encoding="utf-8")
    headers = list(_HEADER.finditer(text))
    found = {}
    for header, following in zip(headers, [*headers[1:], None]):
        body = text[header.end() : following.start() if following else len(text)].strip()
        found[header["name"]] = Example(header["name"], header["description"].strip(), body)
    return found


def markdown() -> str:
    """The examples as docs/analysis.md shows them: a description, the command, then the SQL."""
    return "\n\n".join(f"`--example {e.name}`: {e.description}\n\n```sql\n{e.sql}\n```" for e in examples().values())


DOCS_START, DOCS_END = "<!-- examples: from ingest/analysis/examples.sql -->", "<!-- end of examples -->"


def docs_with_examples(doc: str) -> str:
    """`doc` with the text between the markers replaced by markdown()."""
    head, _, rest = doc.partition(DOCS_START)
    _, _, tail = rest.partition(DOCS_END)
    return f"{head}{DOCS_START}\n\n{markdown()}\n\n{DOCS_END}{tail}"


if __name__ == "__main__":  # python -m ingest.analysis.examples docs/analysis.md: refresh the docs
    import sys

    page = Path(sys.argv[1])
    page.write_text(docs_with_examples(page.read_text(encoding="utf-8")), encoding="utf-8")
