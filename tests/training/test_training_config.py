"""Training configuration, system prompt, chat templates and length fitting (no training here)."""

import pytest
from datasets import Dataset
from hypothesis import given
from hypothesis import strategies as st
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast
from trl.chat_template_utils import is_chat_template_stop_token_trained

from ingest.core.config import ConfigError
from training.config import available_presets, load_preset, set_value, to_yaml
from training.data import fit_to_length
from training.prompt import CHAT_NOUNS, DEFAULT_TEMPLATE, me_name_from_prompt, system_prompt
from training.templates import TEMPLATES, install_template

CONVERSATION = [
    {"role": "system", "content": "You are Robin. Reply as Robin would in a WhatsApp chat with P3f2a (1:1)."},
    {"role": "user", "content": "Are you coming tonight?"},
    {"role": "assistant", "content": "haha yes!! save me a seat"},
    {"role": "user", "content": "Bring snacks."},
    {"role": "assistant", "content": "on it"},
]


# --- config -------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", available_presets())
def test_every_preset_validates_and_round_trips(preset, tmp_path):
    cfg = load_preset(preset)
    assert cfg.preset == preset
    saved = tmp_path / "config.yaml"
    saved.write_text(to_yaml(cfg))
    assert load_preset(str(saved)) == cfg


def test_presets_follow_the_reference_settings():
    for preset in ("qwen2.5-0.5b", "llama-3.1-8b-qlora", "mistral-7b"):
        cfg = load_preset(preset)
        assert (cfg.lora.r, cfg.lora.alpha, cfg.train.learning_rate, cfg.train.max_length) == (16, 32, 2e-4, 2048)
        assert 0.05 <= cfg.lora.dropout <= 0.1 and 2 <= cfg.train.epochs <= 3
        assert set(cfg.lora.target_modules) == {
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        }
    assert load_preset("llama-3.1-8b-qlora").model.load_in_4bit
    tiny = load_preset("tiny-cpu").train
    assert (tiny.use_cpu, tiny.bf16, tiny.gradient_checkpointing) == (True, False, False)


def test_overrides_are_parsed_to_the_field_type():
    cfg = load_preset(
        "tiny-cpu",
        [
            "train.learning_rate=1e-4",
            "train.packing=yes",
            "train.max_steps=7",
            "lora.target_modules=q_proj, v_proj",
            "run=exp-1",
            "model.dtype=bfloat16",
        ],
    )
    assert cfg.train.learning_rate == 1e-4 and cfg.train.packing is True and cfg.train.max_steps == 7
    assert cfg.lora.target_modules == ("q_proj", "v_proj")
    assert cfg.run_name == "exp-1" and cfg.model.dtype == "bfloat16"
    from_dict = load_preset("tiny-cpu", {"train.learning_rate": 1e-4, "train.packing": True})
    assert from_dict.train.learning_rate == 1e-4 and from_dict.train.packing is True


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.lerning_rate=1e-4", "unknown key train.lerning_rate"),
        ("trian.epochs=2", "unknown key trian"),
        ("train.batch_size=abc", "train.batch_size must be an integer, got 'abc'"),
        ("train.batch_size=2.5", "train.batch_size must be an integer"),
        ("train.batch_size=0", "train.batch_size must be > 0"),
        ("train.packing=maybe", "train.packing must be true or false"),
        ("lora.dropout=1.5", "lora.dropout must be in [0, 1)"),
        ("model.dtype=int8", "model.dtype must be one of"),
        ("train.lr_scheduler=cosine_restarts", "train.lr_scheduler must be one of"),
        ("model.base=Qwen/Qwen2.5-0.5B-Instruct", "model.chat_template"),
        ("run=../escape", "must be a plain folder name"),
        ("preset=../../victim", "must be a plain folder name"),
        ("run=base", "not 'base'"),
        ("train=3", "train is a section"),
        ("system_prompt=You are {me}, chatting on {platform}.", "system_prompt: unknown placeholder {platform}"),
        ("learning_rate", "must look like key=value"),
    ],
)
def test_bad_overrides_name_the_field(override, message):
    with pytest.raises(ConfigError) as e:
        load_preset("tiny-cpu", [override])
    assert message in str(e.value)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown preset 'huge'.*tiny-cpu"):
        load_preset("huge")


def test_bad_key_in_a_preset_file_is_named(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("train:\n  epochs: 1\n  warmup_ratio: 0.1\n")
    with pytest.raises(ConfigError, match="unknown key train.warmup_ratio"):
        load_preset(str(path))


@given(st.floats(min_value=1e-9, max_value=10, allow_nan=False))
def test_any_float_survives_the_command_line(value):
    cfg = load_preset("tiny-cpu")
    set_value(cfg, "train.learning_rate", repr(value))
    assert cfg.train.learning_rate == value


@given(st.text(min_size=1).filter(lambda s: not _is_number(s)) | st.sampled_from(["nan", "inf", "-Infinity"]))
def test_non_numbers_are_rejected_with_the_field_name(text):
    cfg = load_preset("tiny-cpu")
    with pytest.raises(ConfigError, match="train.learning_rate must be a finite number"):
        set_value(cfg, "train.learning_rate", text)


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- system prompt ---------------------------------------------------------------------------------


def test_system_prompt_text_is_pinned():
    # dbt builds the same text in SQL: a change here must be mirrored there.
    assert system_prompt("Robin", "whatsapp", "P3f2a") == (
        "You are Robin. Reply as Robin would in a WhatsApp chat with P3f2a (1:1)."
    )
    assert system_prompt("Robin", "instagram", "P3f2a", 5) == (
        "You are Robin. Reply as Robin would in an Instagram chat with P3f2a (group of 5)."
    )
    assert system_prompt("Robin", "gmail", "P9", 2).endswith("in a Gmail thread with P9 (1:1).")
    with pytest.raises(ValueError, match="unknown platform 'fax'"):
        system_prompt("Robin", "fax", "P1")


def test_a_custom_template_fills_the_same_placeholders():
    template = "{me} on {chat} ({size}), talking to {partner}. Write as {me}."
    assert system_prompt("Robin", "messenger", "G1a2b3c", 3, template) == (
        "Robin on a Messenger chat (group of 3), talking to G1a2b3c. Write as Robin."
    )


NAMES = st.text(st.characters(exclude_characters=".[]{}\n", exclude_categories=("Cs",)), min_size=1)
TEMPLATES_WITH_ME = st.sampled_from([DEFAULT_TEMPLATE, "[{me}] on {chat} ({size}), talking to {partner}."])


@given(NAMES, st.sampled_from(sorted(CHAT_NOUNS)), NAMES, st.integers(1, 50), TEMPLATES_WITH_ME)
def test_the_name_is_recovered_from_any_prompt(name, platform, partner, size, template):
    assert me_name_from_prompt(system_prompt(name, platform, partner, size, template), template) == name


def test_prompts_from_another_template_have_no_name():
    assert me_name_from_prompt("You are a helpful assistant.") is None
    assert me_name_from_prompt("anything", "no name here") is None


# --- chat templates --------------------------------------------------------------------------------

FAMILY_TOKENS = {
    "tiny": {
        "bos_token": "<|begin|>",
        "eos_token": "<|end|>",
        "pad_token": "<|pad|>",
        "additional_special_tokens": ["<|system|>", "<|user|>", "<|assistant|>"],
    },
    "chatml": {"eos_token": "<|im_end|>", "additional_special_tokens": ["<|im_start|>"]},
    "llama3": {
        "bos_token": "<|begin_of_text|>",
        "eos_token": "<|eot_id|>",
        "additional_special_tokens": ["<|start_header_id|>", "<|end_header_id|>"],
    },
    "mistral": {"bos_token": "<s>", "eos_token": "</s>", "additional_special_tokens": ["[INST]", "[/INST]"]},
}
END = {"tiny": "<|end|>", "chatml": "<|im_end|>", "llama3": "<|eot_id|>", "mistral": "</s>"}


def family_tokenizer(family):
    """A small byte-level BPE with the family's control tokens, standing in for the real tokenizer."""
    tokens = FAMILY_TOKENS[family]
    specials = [t for k, v in tokens.items() for t in (v if isinstance(v, list) else [v])]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.train_from_iterator(
        [m["content"] for m in CONVERSATION] * 5,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=backend, **tokens)


def masked_runs(tokenizer, ids, mask):
    runs, current = [], []
    for token, bit in zip(ids, mask):
        if bit:
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return [tokenizer.decode(run).strip() for run in runs]


@pytest.mark.parametrize("family", sorted(TEMPLATES))
def test_template_masks_exactly_the_assistant_turns_and_their_end_token(family):
    tokenizer = family_tokenizer(family)
    install_template(tokenizer, family)
    out = tokenizer.apply_chat_template(CONVERSATION, return_dict=True, return_assistant_tokens_mask=True)
    expected = [m["content"] + END[family] for m in CONVERSATION if m["role"] == "assistant"]
    assert masked_runs(tokenizer, out["input_ids"], out["assistant_masks"]) == expected
    assert is_chat_template_stop_token_trained(tokenizer)
    # the system prompt and the user's turns are in the text, outside the mask
    text = tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    assert all(m["content"] in text for m in CONVERSATION)


@pytest.mark.parametrize("family", sorted(TEMPLATES))
def test_generation_prompt_is_the_training_prefix(family):
    """What generation feeds the model is exactly what training saw before a reply."""
    tokenizer = family_tokenizer(family)
    install_template(tokenizer, family)
    prompt = tokenizer.apply_chat_template(CONVERSATION[:2], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(CONVERSATION[:3], tokenize=False)
    assert full.startswith(prompt.rstrip())


def test_native_template_is_kept_when_it_has_markers_and_refused_when_unknown():
    tokenizer = family_tokenizer("tiny")
    tokenizer.chat_template = TEMPLATES["tiny"]
    install_template(tokenizer, "native")
    assert tokenizer.chat_template == TEMPLATES["tiny"]
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    with pytest.raises(ValueError, match="model.chat_template 'native'.*tiny, chatml, llama3, mistral"):
        install_template(tokenizer, "native")
    tokenizer.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        install_template(tokenizer, "native")


def test_template_of_another_family_is_refused():
    with pytest.raises(ValueError, match="does not fit this tokenizer"):
        install_template(family_tokenizer("tiny"), "llama3")


# --- fitting examples to max_length ----------------------------------------------------------------


def test_long_contexts_lose_old_turns_and_hopeless_examples_are_dropped():
    tokenizer = family_tokenizer("tiny")
    install_template(tokenizer, "tiny")
    chatty = (
        [CONVERSATION[0]]
        + [{"role": r, "content": f"turn {i} " + "yes " * 8} for i, r in enumerate(["user", "assistant"] * 6)]
        + [CONVERSATION[2]]
    )
    hopeless = [CONVERSATION[0], {"role": "user", "content": "word " * 300}, CONVERSATION[2]]
    data = Dataset.from_list([{"messages": CONVERSATION}, {"messages": chatty}, {"messages": hopeless}])
    max_length = 80
    fitted, counts = fit_to_length(data, tokenizer, max_length)
    assert (counts.examples, counts.context_trimmed, counts.dropped_too_long, counts.kept) == (3, 1, 1, 2)
    assert fitted[0]["messages"] == CONVERSATION
    trimmed = fitted[1]["messages"]
    assert trimmed[0] == chatty[0] and trimmed[-1] == chatty[-1] and trimmed[1:] == chatty[-len(trimmed) + 1 :]
    assert len(tokenizer.apply_chat_template(trimmed, return_dict=False)) <= max_length
    # one turn more would not have fitted: only what was necessary went
    longer = chatty[:1] + chatty[-len(trimmed) :]
    assert len(tokenizer.apply_chat_template(longer, return_dict=False)) > max_length


def test_a_run_folder_linked_out_of_the_warehouse_is_refused(tmp_path):
    from training.runs import run_folder

    (tmp_path / "victim").mkdir()
    (tmp_path / "warehouse" / "models").mkdir(parents=True)
    (tmp_path / "warehouse" / "models" / "mine").symlink_to(tmp_path / "victim")
    cfg = load_preset("tiny-cpu", {"warehouse": str(tmp_path / "warehouse"), "run": "mine"})
    with pytest.raises(ConfigError, match="resolves outside"):
        _ = cfg.run_dir
    assert run_folder(tmp_path / "warehouse", "other") == (tmp_path / "warehouse" / "models" / "other").resolve()


@pytest.mark.parametrize(
    "contents, removed",
    [
        ({}, True),
        ({"run.json": "{}"}, True),
        ({".ai-me-run": ""}, True),
        ({"checkpoints/x": ""}, True),
        ({"notes.txt": "mine"}, False),
        ({"run.json.bak": "", "thesis.tex": ""}, False),
    ],
)
def test_only_a_folder_of_ours_is_replaced(tmp_path, contents, removed):
    from training.runs import is_run, replace_folder

    folder = tmp_path / "run"
    folder.mkdir()
    for name, text in contents.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    if removed:
        replace_folder(folder, is_run, "a training run")
        assert not folder.exists()
    else:
        with pytest.raises(ConfigError, match="holds files that are not a training run"):
            replace_folder(folder, is_run, "a training run")
        assert sorted(p.name for p in folder.iterdir()) == sorted(contents)
