"""Training chat templates: each marks the assistant's turns, end-of-turn token included, with
`{% generation %}` so trl's assistant-only loss trains the user's replies and when to stop.

Stock templates of instruct models lack the markers, so a run names the family it uses; the
template is saved with the run's tokenizer, and generation renders prompts with the same one.
"""

from __future__ import annotations

TINY_TOKENS = {"bos": "<|begin|>", "end": "<|end|>", "pad": "<|pad|>"}
TINY_ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")

_TINY = """{{- bos_token }}
{%- for message in messages %}
{%- if message['role'] == 'assistant' %}
{{- '<|assistant|>\\n' }}{% generation %}{{ message['content'] + '<|end|>' }}{% endgeneration %}{{ '\\n' }}
{%- elif message['role'] in ('system', 'user') %}
{{- '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}
{%- else %}{{ raise_exception('unknown role ' + message['role']) }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"""

# Qwen2.5 and other ChatML models.
_CHATML = """{%- for message in messages %}
{{- '<|im_start|>' + message['role'] + '\\n' }}
{%- if message['role'] == 'assistant' %}
{%- generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}
{%- else %}
{{- message['content'] + '<|im_end|>\\n' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"""

# Llama 3, 3.1, 3.2 instruct.
_LLAMA3 = """{{- bos_token }}
{%- for message in messages %}
{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}
{%- if message['role'] == 'assistant' %}
{%- generation %}{{ message['content'] + '<|eot_id|>' }}{% endgeneration %}
{%- else %}
{{- message['content'] + '<|eot_id|>' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"""

# Mistral instruct (v0.1-v0.3 layout): the system prompt opens the first [INST] block. Unlike the
# stock template it does not insist on strict user/assistant alternation.
_MISTRAL = """{{- bos_token }}
{%- set system = messages[0]['content'] if messages[0]['role'] == 'system' else '' %}
{%- for message in messages if message['role'] != 'system' %}
{%- set prefix = system + '\\n\\n' if loop.first and system else '' %}
{%- if message['role'] == 'user' %}
{{- '[INST] ' + prefix + message['content'] + '[/INST]' }}
{%- else %}
{%- if prefix %}{{ '[INST] ' + system + '[/INST]' }}{% endif %}
{{- ' ' }}{% generation %}{{ message['content'] + eos_token }}{% endgeneration %}
{%- endif %}
{%- endfor %}"""

TEMPLATES = {"tiny": _TINY, "chatml": _CHATML, "llama3": _LLAMA3, "mistral": _MISTRAL}
_FAMILIES = ", ".join(TEMPLATES)
# The token that ends an assistant turn, i.e. where generation stops.
END_OF_TURN = {"tiny": TINY_TOKENS["end"], "chatml": "<|im_end|>", "llama3": "<|eot_id|>", "mistral": None}


def end_of_turn_token(family: str, tokenizer) -> str:
    return END_OF_TURN.get(family) or tokenizer.eos_token


def install_template(tokenizer, family: str) -> None:
    """Give the tokenizer the family's training template, or check that its own ("native") has the markers.

    Raises ValueError when a template's tokens are not in the vocabulary, i.e. the wrong family.
    """
    if family == "native":
        from trl.chat_template_utils import get_training_chat_template

        if not tokenizer.chat_template:
            raise ValueError(f"the tokenizer has no chat template; set model.chat_template to one of {_FAMILIES}")
        try:
            patched = get_training_chat_template(tokenizer)  # None if it has the markers already
        except ValueError as e:
            raise ValueError(f"model.chat_template 'native': {e} Or set it to one of {_FAMILIES}.") from None
        if patched is not None:
            tokenizer.chat_template = patched
        return
    end = end_of_turn_token(family, tokenizer)
    if end is None or end not in tokenizer.get_vocab():
        raise ValueError(f"model.chat_template {family!r} does not fit this tokenizer: it has no {end!r} token")
    tokenizer.chat_template = TEMPLATES[family]
