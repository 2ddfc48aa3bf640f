{#- Config values (dbt vars) as SQL literals, quotes escaped. -#}
{% macro sql_string(value) -%}
  '{{ value | string | replace("'", "''") }}'
{%- endmacro %}


{% macro sql_string_list(values) -%}
  [{% for v in values %}{{ sql_string(v) }}{{ ", " if not loop.last }}{% endfor %}]::varchar[]
{%- endmacro %}


{#- Whole milliseconds of a var given in hours, minutes or seconds. -#}
{% macro ms(var_name, unit_ms) -%}
  {{ (var(var_name) | float * unit_ms) | round | int }}
{%- endmacro %}
