"""`ai-me export --gguf`: the demo's SmolLM2 run as one GGUF file, loaded back with transformers.

The run's adapter is replaced by a random one of a realistic size in a copy of the run, so that the
merge changes every adapted weight (three training steps barely move LoRA's zero-initialised B).
"""

import json
import os
import re
import shutil
import stat

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from ingest.cli import main as cli
from ingest.core.config import ConfigError
from tests.support.smol import IM_END
from training.export.gguf import export_gguf, training_template
from training.inference import load_run, run_info
from training.prompt import system_prompt

pytestmark = pytest.mark.slow
MESSAGES = [
    {"role": "system", "content": "You are Sam, chatting on WhatsApp with Alex."},
    {"role": "user", "content": "are you coming tonight?"},
    {"role": "assistant", "content": "yes!! see you at 8"},
    {"role": "user", "content": "bring the cards"},
]


@pytest.fixture(scope="module")
def tuned(smol_run):
    """A copy of the run whose adapter moves the weights: lora_B drawn at 0.02, as after real training."""
    copy = smol_run.parent / "smol-gguf"
    shutil.copytree(smol_run, copy, dirs_exist_ok=True)
    weights = load_file(copy / "adapter_model.safetensors")
    gen = torch.Generator().manual_seed(0)
    for key, value in weights.items():
        if ".lora_B." in key:
            weights[key] = (torch.randn(value.shape, generator=gen) * 0.02).to(value.dtype)
    save_file(weights, copy / "adapter_model.safetensors")
    return copy


@pytest.fixture(scope="module")
def exports(tuned, tmp_path_factory):
    return {quant: export_gguf(tuned, tmp_path_factory.mktemp(quant), quant) for quant in ("f16", "q8_0")}


@pytest.fixture(scope="module")
def merged(tuned):
    """The merged Hugging Face model in float32: what the GGUF file must compute."""
    model, tokenizer, _ = load_run(tuned, device="cpu", quantized=False, dtype="float32")
    return model.merge_and_unload().eval(), tokenizer


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits[0].float()


def _from_gguf(done):
    return AutoModelForCausalLM.from_pretrained(done.gguf.parent, gguf_file=done.gguf.name, dtype=torch.float32).eval()


def _prompt_ids(tokenizer):
    text = tokenizer.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]


def test_f16_export_computes_the_merged_model_to_half_precision(exports, merged):
    model, tokenizer = merged
    ids = _prompt_ids(tokenizer)
    got, expected = _logits(_from_gguf(exports["f16"]), ids), _logits(model, ids)
    # f16 storage of every matrix is the only difference: with the merged weights rounded the same
    # way, the logits agree to float32 noise
    halved = AutoModelForCausalLM.from_config(model.config, dtype=torch.float32).eval()
    halved.load_state_dict({k: v.half().float() if v.dim() == 2 else v for k, v in model.state_dict().items()})
    assert (got - _logits(halved, ids)).abs().max() < 1e-3
    assert (got - expected).abs().max() < 0.1
    assert torch.equal(got.argmax(-1), expected.argmax(-1))
    # the adapter matters at this scale, so a dropped or misordered LoRA update would show
    base = AutoModelForCausalLM.from_pretrained(model.config._name_or_path, dtype=torch.float32).eval()
    assert (_logits(base, ids) - expected).abs().max() > 1.0


def test_q8_0_export_is_within_8_bit_error_and_half_the_size(exports, merged):
    model, tokenizer = merged
    ids = _prompt_ids(tokenizer)
    got, expected = _logits(_from_gguf(exports["q8_0"]), ids), _logits(model, ids)
    assert (got - expected).abs().max() < 0.05 * expected.abs().max()
    assert (got.argmax(-1) == expected.argmax(-1)).float().mean() > 0.9
    assert exports["q8_0"].bytes < 0.6 * exports["f16"].bytes


def test_tokenization_of_training_texts_is_identical(exports, tuned, smol_warehouse):
    import pyarrow.parquet as pq

    done = exports["f16"]
    ours = AutoTokenizer.from_pretrained(tuned)
    theirs = AutoTokenizer.from_pretrained(done.gguf.parent, gguf_file=done.gguf.name)
    rows = pq.read_table(smol_warehouse / "datasets" / "train.parquet").to_pylist()
    texts = [ours.apply_chat_template(row["messages"], tokenize=False) for row in rows]
    texts += ["Ünïcödé ✨ 😂😂 — naïve café", "  two  spaces\tand a tab\n\nnew lines", "https://x.y/z?a=1 £3.50"]
    assert [theirs(t, add_special_tokens=False)["input_ids"] for t in texts] == [
        ours(t, add_special_tokens=False)["input_ids"] for t in texts
    ]
    assert theirs.convert_tokens_to_ids(IM_END) == ours.convert_tokens_to_ids(IM_END)


def test_embedded_chat_template_renders_the_training_prompt(exports, tuned):
    done = exports["f16"]
    ours = AutoTokenizer.from_pretrained(tuned)
    theirs = AutoTokenizer.from_pretrained(done.gguf.parent, gguf_file=done.gguf.name)
    assert theirs.chat_template == training_template(tuned) and "generation %}" not in theirs.chat_template
    for generation_prompt in (True, False):
        assert theirs.apply_chat_template(
            MESSAGES, tokenize=False, add_generation_prompt=generation_prompt
        ) == ours.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=generation_prompt)


def _render_go_template(template: str, messages: list[dict]) -> str:
    """The subset of Go's text/template the Modelfile uses: one range over .Messages, then a tail."""
    match = re.fullmatch(r"\{\{- range \.Messages \}\}(.*)\{\{ end \}\}(.*)", template, re.S)
    body, tail = match.groups()
    return (
        "".join(body.replace("{{ .Role }}", m["role"]).replace("{{ .Content }}", m["content"]) for m in messages) + tail
    )


def test_modelfile_prompts_ollama_as_training_did(exports, tuned):
    done = exports["f16"]
    text = done.modelfile.read_text()
    assert f"FROM ./{done.gguf.name}\n" in text and f'PARAMETER stop "{IM_END}"' in text
    info = run_info(tuned)
    system = re.search(r'SYSTEM """(.*)"""', text, re.S).group(1)
    assert system == system_prompt(info.me_name, "whatsapp", "someone", 2, info.system_prompt)
    template = re.search(r'TEMPLATE """(.*?)"""', text, re.S).group(1)
    ours = AutoTokenizer.from_pretrained(tuned)
    assert _render_go_template(template, MESSAGES) == ours.apply_chat_template(
        MESSAGES, tokenize=False, add_generation_prompt=True
    )


def test_export_files_are_owner_only_and_carry_the_run_name(exports):
    import gguf

    done = exports["q8_0"]
    for path in (done.gguf, done.modelfile):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not list(done.gguf.parent.glob("*.partial"))
    fields = gguf.GGUFReader(done.gguf).fields
    assert fields["general.name"].contents() == "ai-me smol-gguf"
    assert fields["general.file_type"].contents() == gguf.LlamaFileType.MOSTLY_Q8_0
    assert (
        fields["tokenizer.ggml.pre"].contents() == gguf.GGUFReader(_base_file()).fields["tokenizer.ggml.pre"].contents()
    )


def _base_file():
    from tests.support.smol import PACKAGED
    from training.base_models import gguf_path

    return gguf_path(PACKAGED)


def test_cli_writes_into_the_run_and_refuses_a_foreign_out(tuned, tmp_path, capsys):
    warehouse = str(tuned.parent.parent)
    assert cli(["export", "--run", tuned.name, "--gguf", "--quant", "q8_0", "--warehouse", warehouse]) == 0
    out = capsys.readouterr().out
    assert f"{tuned / 'export' / 'smol-gguf.gguf'} (q8_0, 272 tensors" in out and "ollama create smol-gguf" in out
    foreign = tmp_path / "thesis"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("chapter one")
    args = ["export", "--run", tuned.name, "--gguf", "--out", str(foreign), "--warehouse", warehouse]
    assert cli(args) == 2
    assert "is not empty and holds no earlier export; pass --overwrite" in capsys.readouterr().err
    assert os.listdir(foreign) == ["thesis.tex"]
    assert cli([*args, "--overwrite"]) == 0 and (foreign / "thesis.tex").read_text() == "chapter one"
    assert (foreign / "smol-gguf.gguf").is_file()
    assert cli(args) == 0  # a folder that holds an earlier export is ours to write again


def test_merged_export_refuses_a_foreign_out_and_replaces_its_own(tuned, tmp_path, capsys):
    foreign, own = tmp_path / "docs", tmp_path / "merged"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("chapter one")
    args = ["export", "--run", tuned.name, "--merge", "--warehouse", str(tuned.parent.parent), "--out"]
    assert cli([*args, str(foreign)]) == 2 and os.listdir(foreign) == ["thesis.tex"]
    assert "pass --overwrite" in capsys.readouterr().err
    assert cli([*args, str(own)]) == 0 and (own / "config.json").is_file()
    assert cli([*args, str(own)]) == 0  # its own earlier export is replaced


def _fake_run(tuned, name, **changes):
    run = tuned.parent / name
    shutil.copytree(tuned, run, dirs_exist_ok=True)
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, **changes}))
    return run


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"base_source": "tiny", "base_model": "models/base/tiny-cpu-0123"}, "not a GGUF base"),
        ({"base_source": "HuggingFaceTB/SmolLM2-135M-Instruct"}, "use export --merge and llama.cpp's"),
        ({"base_model": "models/base/smollm2-135m-instruct.q4_1-000000000000"}, "it changed since"),
    ],
)
def test_runs_that_cannot_be_exported_say_why(tuned, changes, message, tmp_path):
    run = _fake_run(tuned, "unexportable", **changes)
    with pytest.raises(ConfigError, match=re.escape(message)):
        export_gguf(run, tmp_path)
    assert not list(tmp_path.iterdir())


def test_adapters_the_merge_does_not_cover_are_refused(tuned, tmp_path):
    run = _fake_run(tuned, "dora")
    config = json.loads((run / "adapter_config.json").read_text())
    (run / "adapter_config.json").write_text(json.dumps({**config, "use_dora": True}))
    with pytest.raises(ConfigError, match="uses use_dora, which the export does not merge"):
        export_gguf(run, tmp_path)


def test_unknown_quant_is_refused(tuned, tmp_path):
    with pytest.raises(ConfigError, match="--quant 'q4_k'"):
        export_gguf(tuned, tmp_path, "q4_k")
    with pytest.raises(SystemExit):
        cli(["export", "--run", tuned.name, "--gguf", "--quant", "q4_k"])


@pytest.mark.parametrize("run", ["../victim", "a/b", "..", "base"])
def test_export_run_names_stay_inside_the_warehouse(run, tuned, capsys):
    assert cli(["export", "--run", run, "--gguf", "--warehouse", str(tuned.parent.parent)]) == 2
    assert "must be a plain folder name" in capsys.readouterr().err
