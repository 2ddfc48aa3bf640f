"""`python -m ingest.cli` (what `accelerate launch -m ingest.cli train` runs on each process)."""

import sys

from ingest.cli import main

sys.exit(main())
