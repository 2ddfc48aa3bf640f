{#
  The raw Parquet of one platform as a relation: the `raw` source while files have landed, else a
  typed empty relation with the source's declared columns, because read_parquet fails on a glob
  that matches nothing. source() is called either way so the lineage stays.
#}
{% macro raw_messages(platform) %}
  {%- set relation = source('raw', platform) -%}
  {%- if execute and not raw_files_exist(platform) -%}
    {{ empty_source_relation('raw', platform) }}
  {%- else -%}
    {{ relation }}
  {%- endif -%}
{% endmacro %}


{% macro source_node(source_name, table_name) %}
  {%- set matches = graph.sources.values()
        | selectattr('source_name', 'equalto', source_name)
        | selectattr('name', 'equalto', table_name) | list -%}
  {%- if matches | length != 1 -%}
    {{ exceptions.raise_compiler_error("no source " ~ source_name ~ "." ~ table_name) }}
  {%- endif -%}
  {{ return(matches[0]) }}
{% endmacro %}


{% macro raw_files_exist(platform) %}
  {%- set node = source_node('raw', platform) -%}
  {%- set pattern = node.meta.raw_dir ~ '/' ~ platform ~ '/*.parquet' -%}
  {%- set found = run_query("select count(*) from glob(" ~ dbt.string_literal(pattern) ~ ")") -%}
  {{ return(found.columns[0].values()[0] > 0) }}
{% endmacro %}


{% macro empty_source_relation(source_name, table_name) %}
  {%- set columns = source_node(source_name, table_name).columns.values() | list -%}
  {%- if not columns -%}
    {{ exceptions.raise_compiler_error("source " ~ source_name ~ "." ~ table_name ~ " declares no columns") }}
  {%- endif -%}
  (select
    {%- for column in columns %}
    cast(null as {{ column.data_type }}) as {{ column.name }}{{ "," if not loop.last }}
    {%- endfor %}
  where false)
{% endmacro %}
