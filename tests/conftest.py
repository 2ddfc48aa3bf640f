import os

# Tests never reach a hub or phone home.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

# `make fuzz` (HYPOTHESIS_PROFILE=fuzz): many more examples for the fuzz and property tests that do
# not fix their own count (tests/ingest/test_fuzz.py scales with it). What it finds failing is saved in
# tests/fixtures/hypothesis-found/, which is committed: every run, under any profile, replays it
# (the default profile reads it and keeps its own database as before). Hypothesis drops an entry
# that passes again, and an edit of the test changes its key, so a found bug also gets an
# @example and a regression test of its own (see tests/ingest/test_fuzz.py).
from pathlib import Path  # noqa: E402

from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis.database import DirectoryBasedExampleDatabase, MultiplexedDatabase, ReadOnlyDatabase  # noqa: E402

FOUND_EXAMPLES = DirectoryBasedExampleDatabase(Path(__file__).parent / "fixtures" / "hypothesis-found")
settings.register_profile(
    "default", database=MultiplexedDatabase(settings.get_profile("default").database, ReadOnlyDatabase(FOUND_EXAMPLES))
)
settings.load_profile("default")
settings.register_profile(
    "fuzz",
    max_examples=3000,
    deadline=None,
    print_blob=True,
    database=FOUND_EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# `make mutation` (tests/mutation/): the same examples on every run, so a score is reproducible, and
# no database (derandomize implies none), so a failure one mutant causes is not replayed against the
# next; the bugs found earlier are @examples of their tests.
settings.register_profile("mutation", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def smol_warehouse(tmp_path_factory):
    from tests.support.smol import toy_warehouse

    return toy_warehouse(tmp_path_factory.mktemp("smol-warehouse"))


@pytest.fixture(scope="session")
def smol_run(smol_warehouse):
    """One short run of the packaged SmolLM2 model, shared by the real-model tests."""
    from tests.support.smol import train_smol

    return train_smol(smol_warehouse)


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory):
    """The demo's sample data (5000 messages), ingested and transformed: the warehouse root."""
    from tests.support.pipeline import sample_warehouse

    with pytest.MonkeyPatch.context() as mp:
        return sample_warehouse(tmp_path_factory.mktemp("demo"), mp)[0]
