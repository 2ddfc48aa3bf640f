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


{#- How each platform's conversation is named in the prompt (training/prompt.py CHAT_NOUNS). -#}
{% macro chat_noun(platform) -%}
  case {{ platform }}
    when 'whatsapp' then 'a WhatsApp chat'
    when 'instagram' then 'an Instagram chat'
    when 'messenger' then 'a Messenger chat'
    when 'gmail' then 'a Gmail thread'
  end
{%- endmacro %}
