"""Example counts for hypothesis tests: a test's own CI-sized count by default; under `make fuzz`
(HYPOTHESIS_PROFILE=fuzz, registered in conftest.py) the profile's much larger one."""
import os

from hypothesis import HealthCheck, settings

FUZZING = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"


def examples(n: int) -> settings:
    base = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    return base if FUZZING else settings(base, max_examples=n)
