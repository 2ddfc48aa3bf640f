import os

# Tests never reach a hub or phone home.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

# `make fuzz` (HYPOTHESIS_PROFILE=fuzz): many more examples for the fuzz and property tests that do
# not fix their own count (tests/test_fuzz.py scales with it); the default profile stays as it is.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("fuzz", max_examples=3000, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])
