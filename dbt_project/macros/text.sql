{#- Small expressions shared by the models. -#}

{#- A stable pseudonym: prefix + 12 hex (48 bits: collisions stay unlikely at millions of names) of the keyed hash (ingest/transform/pseudonyms.py) of kind:value. -#}
{% macro pseudonym(prefix, kind, value) -%}
  '{{ prefix }}' || left(ai_me_keyed_hash('{{ kind }}:' || {{ value }}), 12)
{%- endmacro %}


{#- How a name or address is compared: case and surrounding space ignored. -#}
{% macro name_key(value) -%}
  lower(trim({{ value }}))
{%- endmacro %}


{#- About four characters a token: the budget unit of the training examples. -#}
{% macro token_estimate(text) -%}
  cast(ceil(length({{ text }}) / 4.0) as integer)
{%- endmacro %}


{#- Emoji: pictographs and symbols, with their variation selectors, skin tones and ZWJ sequences. -#}
{% macro emoji_pattern() -%}
  (?:[\x{1F000}-\x{1FAFF}\x{2600}-\x{27BF}\x{2300}-\x{23FF}\x{2B00}-\x{2BFF}](?:\x{FE0F}|[\x{1F3FB}-\x{1F3FF}])*(?:\x{200D}[\x{1F000}-\x{1FAFF}\x{2600}-\x{27BF}](?:\x{FE0F}|[\x{1F3FB}-\x{1F3FF}])*)*)
{%- endmacro %}


{#- Leading/trailing whitespace of any kind removed (trim() only takes spaces). -#}
{% macro strip(text) -%}
  regexp_replace({{ text }}, '^\s+|\s+$', '', 'g')
{%- endmacro %}


{#-
  The system prompt of a training example: var('system_prompt') with {me}, {chat}, {partner} and
  {size} filled in. Mirrors training/prompt.py system_prompt (tests/transform/test_transforms.py compares).
-#}
{% macro system_prompt(platform, partner, group_size) -%}
  replace(replace(replace(replace({{ sql_string(var('system_prompt')) }},
    '{me}', {{ sql_string(me_name()) }}),
    '{chat}', {{ chat_noun(platform) }}),
    '{partner}', {{ partner }}),
    '{size}', case when {{ group_size }} <= 2 then '1:1' else 'group of ' || {{ group_size }} end)
{%- endmacro %}


{#-
  How each platform's conversation is named in the prompt: var('chat_nouns'), from
  ingest/core/platforms.py TABLE as training/prompt.py CHAT_NOUNS is. A platform of var('platforms')
  without one fails compilation (its prompts would be null).
-#}
{% macro chat_noun(platform) -%}
  {%- set nouns = var('chat_nouns') -%}
  {%- for name in var('platforms') if name not in nouns -%}
    {{ exceptions.raise_compiler_error("platform '" ~ name ~ "' has no chat noun in var('chat_nouns'): give it one in ingest/core/platforms.py TABLE and in the vars of dbt_project/dbt_project.yml") }}
  {%- endfor -%}
  case {{ platform }}
  {%- for name, noun in nouns.items() %}
    when {{ sql_string(name) }} then {{ sql_string(noun) }}
  {%- endfor %}
  end
{%- endmacro %}
