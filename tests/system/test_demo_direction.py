"""The evaluation measures something: on the demo's sample data, with the demo's settings, the tuned
tiny model beats its base on held-out likelihood and on Burrows' Delta. The direction is asserted,
not a number.

The pseudonym key is fixed so partner pseudonyms, hence the system prompts, the tokenizer and the
training text, are the same on every run (a new warehouse otherwise draws a random key).
"""

import json
import os

import pytest

from ingest.cli import main as ai_me
from ingest.transform.pseudonyms import key_path
from tests.support.pipeline import sample_warehouse

pytestmark = pytest.mark.slow
FIXED_KEY = bytes(range(32))


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    warehouse = root / "warehouse"
    key = key_path(warehouse)
    key.parent.mkdir(parents=True, mode=0o700)
    key.write_bytes(FIXED_KEY)
    os.chmod(key, 0o600)
    with pytest.MonkeyPatch.context() as mp:
        sample_warehouse(root, mp)  # 5000 messages, as make demo
        assert ai_me(["train"]) == 0  # the config's preset, tiny-cpu
        assert ai_me(["evaluate"]) == 0
    return json.loads((warehouse / "models" / "tiny-cpu" / "eval" / "metrics.json").read_text())


def test_tuned_model_assigns_the_users_real_replies_higher_likelihood(evaluation):
    assert evaluation["n_examples"] >= 50
    assert evaluation["tuned"]["nll"] < evaluation["base"]["nll"]


def test_tuned_model_replies_are_stylometrically_closer_to_the_user(evaluation):
    assert evaluation["tuned"]["burrows_delta"] < evaluation["base"]["burrows_delta"]
