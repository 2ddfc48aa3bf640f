"""Row dicts to column batches, for the toy per-record parsers of the landing tests."""


class RowBuffer:
    """Collects row dicts from a per-record parser and hands them out as column batches."""

    def __init__(self, size: int = 50_000):
        self.size, self.rows = size, []

    def add(self, row: dict) -> dict | None:
        self.rows.append(row)
        return self.flush() if len(self.rows) >= self.size else None

    def flush(self) -> dict | None:
        if not self.rows:
            return None
        cols = {k: [r.get(k) for r in self.rows] for k in self.rows[0].keys() | set().union(*self.rows)}
        self.rows = []
        return cols
