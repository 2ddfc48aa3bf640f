import pytest

from ingest.cli import main as ai_me


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory):
    """The demo's sample data (5000 messages), ingested and transformed: the warehouse root."""
    root = tmp_path_factory.mktemp("analysis")
    warehouse, config = root / "warehouse", root / "samples" / "ai_me.toml"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AI_ME_WAREHOUSE", str(warehouse))
        assert ai_me(["sample-data", str(root / "samples"), "--preset", "tiny-cpu"]) == 0
        mp.setenv("AI_ME_CONFIG", str(config))
        for platform in ("whatsapp", "instagram", "messenger", "gmail"):
            assert ai_me(["ingest", platform]) == 0
        assert ai_me(["transform"]) == 0
    return warehouse
