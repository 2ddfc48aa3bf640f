{#
  Other people's names in message texts (models_sql/intermediate/int_people__names.sql lists them,
  int_messages__redacted replaces them). The rule:
  - a full name (every word, in order, any run of space between) is always replaced, in any case;
  - a first name alone only when one known person has it, it is none of my names' words, and it is
    not a title or a month (never_alone_names);
  - a one-word name that is also a common English word (common_word_names), a title or a month,
    or has fewer than three letters is "cautious": replaced only written capitalised (Mark) in
    mid-sentence, after a word, comma or bracket on the same line, never at the start of a line
    or after . ! ?  So "Hi Mark," and "thanks, Mark" lose the name while "mark it", "the bill"
    and "Will you?" stay as written.
  Whole words only: a name next to a letter, digit or underscore is part of another word.
  Pure Jinja with no dbt context, so tests/transform/test_name_redaction.py renders and runs it directly.
#}

{#- First names that are also everyday words, lowercase, as a SQL list. -#}
{% macro common_word_names() -%}
  [
    'will', 'may', 'mark', 'bill', 'rose', 'grace', 'hope', 'joy', 'faith', 'art', 'pat', 'sue', 'rob', 'jack',
    'frank', 'guy', 'ray', 'dawn', 'summer', 'autumn', 'winter', 'amber', 'ruby', 'pearl', 'iris', 'lily',
    'daisy', 'violet', 'holly', 'ivy', 'olive', 'jade', 'sky', 'river', 'rich', 'penny', 'sandy', 'rusty',
    'chase', 'hunter', 'drew', 'lane', 'page', 'gene', 'dean', 'earl', 'miles', 'carol', 'chip', 'cliff',
    'glen', 'heather', 'fern', 'hazel', 'poppy', 'sage', 'brook', 'gale', 'crystal', 'destiny', 'melody',
    'harmony', 'chance', 'sunny', 'honey', 'king', 'duke', 'prince', 'bob', 'ken', 'van', 'max',
    'nick', 'pip', 'robin', 'jay', 'wren', 'dot', 'kit', 'eve', 'storm', 'rain', 'misty', 'dusty', 'grant',
    'hardy', 'bishop', 'cash', 'major', 'reed', 'rod', 'royal', 'spring', 'star', 'warren', 'wade', 'young',
    'charity', 'patience', 'prudence', 'mercy', 'ginger', 'candy', 'brandy', 'sherry', 'love', 'baby',
    'babe', 'darling', 'mum', 'mom', 'dad', 'mama', 'papa', 'nan', 'nana', 'gran', 'granny', 'grandma',
    'grandpa', 'sis', 'bro', 'boss', 'buddy', 'angel', 'happy', 'lucky', 'teddy', 'sonny', 'sparrow'
  ]::varchar[]
{%- endmacro %}


{#- Words never taken for a first name on their own: titles and the months that are names (SQL list). -#}
{% macro never_alone_names() -%}
  ['mr', 'mrs', 'ms', 'miss', 'mx', 'dr', 'prof', 'sir', 'dame', 'lord', 'lady', 'dear', 'herr',
   'frau', 'sr', 'sra', 'don', 'doña', 'april', 'may', 'june', 'august', 'christian']::varchar[]
{%- endmacro %}


{#-
  The words of a name or text: runs of letters, digits and underscores, lowercase. A name is
  compared by its words, so "O'Brien", "O’Brien" and "o brien" are one name, and "Sam" is no
  word of "Samsung" or "sam_2".
-#}
{% macro name_words(text) -%}
  regexp_extract_all(lower({{ text }}), '[\pL\pM\pN_]+')
{%- endmacro %}


{#- A text's words once each: what a name's first word is looked up by. -#}
{% macro text_words(text) -%}
  list_distinct({{ name_words(text) }})
{%- endmacro %}


{#-
  Names are found in a marked text (mark_words): each word wrapped in \x01 ... \x02, so a name's
  patterns need no Unicode classes for its edges. (Patterns differ per row, and DuckDB compiles
  such a pattern once per row: one with \pL classes takes milliseconds, this kind microseconds.)
-#}
{% macro mark_words(text) -%}
  regexp_replace(regexp_replace({{ text }}, '[\x01\x02]', '', 'g'), '[\pL\pM\pN_]+', chr(1) || '\0' || chr(2), 'g')
{%- endmacro %}


{#-
  The RE2 pattern that finds the name `name` (a SQL expression: its words joined by single
  spaces) in a marked text; any run of other characters may stand between its words. `cautious`
  (a SQL boolean) picks the capitalised, mid-sentence form, whose group 1 is what comes before.
-#}
{% macro name_pattern(name, cautious) -%}
  case when {{ cautious }}
    then '([^\s.!?¡¿…][ \t\x{A0}]+|[(\[][ \t\x{A0}]*)\x01' || upper(left({{ name }}, 1)) || substr({{ name }}, 2) || '\x02'
    else '(?i)\x01' || replace({{ name }}, ' ', '\x02[^\x01]*\x01') || '\x02'
  end
{%- endmacro %}


{#- What a match of name_pattern becomes: the pseudonym, as one marked word. -#}
{% macro name_replacement(pseudonym, cautious) -%}
  case when {{ cautious }} then '\1' else '' end || chr(1) || {{ pseudonym }} || chr(2)
{%- endmacro %}


{#-
  `text` with each of `names` (a SQL list of struct(pattern, replacement, cautious), longest
  name first) replaced. A cautious pattern runs twice: its match takes the character before the
  name, so in "Hi Mark, Mark" one pass leaves the second.
-#}
{% macro replace_names(text, names) -%}
  case when {{ names }} is null or {{ text }} is null then {{ text }}
  else replace(replace(list_reduce({{ names }}, lambda marked, rule: case
      when rule.cautious then regexp_replace(regexp_replace(marked, rule.pattern, rule.replacement, 'g'),
                                             rule.pattern, rule.replacement, 'g')
      else regexp_replace(marked, rule.pattern, rule.replacement, 'g') end,
    {{ mark_words(text) }}), chr(1), ''), chr(2), '')
  end
{%- endmacro %}
