{#
  Who I am: ingest/transform/dbt_runner.py passes my names in the environment ($AI_ME_DBT_ME, JSON with
  me_name and me_names), never on the dbt command line where `ps` shows them to every user, and
  never as a dbt var, whose strings dbt renders as Jinja (a `{{ ... }}` in a name would run).
  A var of the same name (a unit test's override) wins; without either, "me" and no names.
#}
{% macro me_config() -%}
  {{- return(fromjson(env_var('AI_ME_DBT_ME', '{}') or '{}')) -}}
{%- endmacro %}


{#- How I am named in system prompts and the messages mart. -#}
{% macro me_name() -%}
  {{- return(var('me_name', none) or me_config().get('me_name') or 'me') -}}
{%- endmacro %}


{#- My names, lowercased (and normalised as ingest/core/identity.py norm_name does): participants spelled so are me. -#}
{% macro me_names() -%}
  {{- return(var('me_names', none) or me_config().get('me_names') or []) -}}
{%- endmacro %}
