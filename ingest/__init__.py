"""ai-me ingestion: parsers that turn message exports into raw Parquet in the warehouse.

Importing it sets process-wide defaults (below) before any library that reads them
loads: every entry point imports this package first (the CLI, the Dagster code, dbt's plugin, and
`training`, whose __init__ imports it).
"""

import os

# Everything this project writes (raw Parquet, DuckDB, dbt artifacts, datasets, runs, reports) can
# hold message data, so it is created owner-only (0600 files, 0700 folders) whatever the shell's
# umask; subprocesses such as dbt inherit the mask. A stricter user umask is kept.
os.umask(os.umask(0o077) | 0o077)

# Nothing phones home, with or without the Makefile's exports (tests/system/test_offline.py audits it):
# trl's trainer and huggingface_hub send usage telemetry unless told not to, and
# datasets.load_dataset("parquet") pings S3 to count a "download" of its builder. A user's own
# setting wins; reaching the hub to download a base model the user named still works.
for _name, _value in (
    ("HF_HUB_DISABLE_TELEMETRY", "1"),
    ("DO_NOT_TRACK", "1"),
    ("HF_UPDATE_DOWNLOAD_COUNTS", "0"),
    ("HF_HUB_DISABLE_UPDATE_CHECK", "1"),
    ("DBT_SEND_ANONYMOUS_USAGE_STATS", "false"),
):
    os.environ.setdefault(_name, _value)

# Arrow's system (glibc) allocator instead of its bundled mimalloc, unless the user chose one: a
# landing allocates and frees each batch's columns over and over, and mimalloc hands freed pages
# back to the OS only to fault them in again (docs/benchmarks.md). Arrow reads this when it loads,
# so no verb pays for importing it here.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
