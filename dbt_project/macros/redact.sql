{#
  Redaction of identifiers in free text, as one SQL expression over the column `text`. Card
  numbers go first (only Luhn-valid ones), then addresses and links (they hold digits and dots),
  IBANs, IP addresses, and phone numbers last, whose broad patterns would otherwise eat the
  others. Phone patterns are broad on purpose: any +number, 0-led national numbers, US-style groups
  and runs of 9+ digits (an order number may go too, a phone number never stays). One regex per
  placeholder, since each regexp_replace scans the whole text: a long email body costs five scans.
  Pure Jinja with no dbt context, so tests/transform/test_transforms.py renders it and checks it directly.
#}
{% macro redact(text) -%}
  {%- set rules = [
    ('[EMAIL]', "[\\pL\\pN._%+-]+@[\\pL\\pN-]+(?:\\.[\\pL\\pN-]+)*\\.\\pL{2,}"),
    ('[URL]', "(?i)\\b(?:https?://|www\\.)[^\\s<>\"]*[^\\s<>\".,;:!?)]|\\b[\\pL\\pN-]+(?:\\.[\\pL\\pN-]+)*\\.(?:com|org|net|edu|gov|io|co|uk|de|fr|es|it|nl|ru|ge|eu|info|biz|me|app|dev|ly|gl)\\b(?:/[^\\s<>\"]*)?"),
    ('[IBAN]', "\\b[A-Z]{2}\\d{2}(?: ?[A-Z0-9]){11,30}\\b"),
    ('[IP]', "\\b(?:(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\b|(?i)\\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\\b|\\b(?:[0-9a-f]{1,4}:){1,6}:(?:[0-9a-f]{1,4}:){0,5}[0-9a-f]{1,4}\\b"),
    ('[PHONE]', "\\+\\d[\\d\\s().-]{5,}\\d|\\(?\\b\\d{3}\\)?[\\s.-]?\\d{3}[\\s.-]?\\d{4}\\b|\\(?\\b0\\d{2,4}\\)?[\\s.-]?\\d{3,4}[\\s.-]?\\d{3,4}\\b|\\b\\d(?:[.-]?\\d){8,}\\b"),
  ] -%}
  {%- set ns = namespace(sql=redact_cards(text)) -%}
  {%- for placeholder, pattern in rules -%}
    {%- set ns.sql = "regexp_replace(" ~ ns.sql ~ ", '" ~ pattern | replace("'", "''") ~ "', '" ~ placeholder ~ "', 'g')" -%}
  {%- endfor -%}
  {{ ns.sql }}
{%- endmacro %}


{#
  Card numbers: 13-19 digits, grouped by spaces or dashes or not; only Luhn-valid ones become
  [CARD] (the others, and +numbers, meet the phone rules). Texts without 13 digits in a row skip
  the list work.
#}
{% macro redact_cards(text) -%}
  case
    when not regexp_matches({{ text }}, '\d(?:[ -]?\d){12}') then {{ text }}
    else list_reduce(
      list_filter(regexp_extract_all({{ text }}, '\+?\b\d(?:[ -]?\d){12,18}\b'),
                  lambda c: not starts_with(c, '+') and {{ luhn_valid('c') }}),
      lambda acc, c: replace(acc, c, '[CARD]'), {{ text }})
  end
{%- endmacro %}


{#- The Luhn checksum of the digits in `candidate` (a SQL expression) holds. -#}
{% macro luhn_valid(candidate) -%}
  list_transform([regexp_replace({{ candidate }}, '\D', '', 'g')], lambda d:
    list_sum(list_transform(range(length(d)), lambda i:
      case when i % 2 = 0 then cast(substr(d, length(d) - i, 1) as integer)
           else (2 * cast(substr(d, length(d) - i, 1) as integer)) % 10
                + (2 * cast(substr(d, length(d) - i, 1) as integer)) // 10 end)) % 10 = 0)[1]
{%- endmacro %}
