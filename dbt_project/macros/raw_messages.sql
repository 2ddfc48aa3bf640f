{#
  The Parquet files behind a source as a relation: the source itself while files exist, else a
  typed empty relation with the source's declared columns, because read_parquet fails on a glob
  that matches nothing. source() is called either way so the lineage stays.
  `dir_key` names the source meta entry holding the folder; files are <folder>/<table>/*.parquet.
#}
{% macro source_or_empty(source_name, table_name, dir_key) %}
  {%- set relation = source(source_name, table_name) -%}
  {%- if execute and not source_files_exist(source_name, table_name, dir_key) -%}
    {{ empty_source_relation(source_name, table_name) }}
  {%- else -%}
    {{ relation }}
  {%- endif -%}
{% endmacro %}


{#- The raw Parquet of one platform (warehouse/raw/<platform>/). -#}
{% macro raw_messages(platform) %}
  {{- source_or_empty('raw', platform, 'raw_dir') -}}
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


{% macro source_files_exist(source_name, table_name, dir_key) %}
  {%- set node = source_node(source_name, table_name) -%}
  {%- set pattern = node.meta[dir_key] ~ '/' ~ table_name ~ '/*.parquet' -%}
  {%- set found = run_query("select count(*) from glob(" ~ sql_string(pattern) ~ ")") -%}
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
