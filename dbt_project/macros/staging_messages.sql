{#
  The staging select shared by every stg_<platform>__messages model: the raw columns by name,
  cast to their declared types, plus the send time as a UTC timestamp and the platform's medium
  (chat | email, from var('media'): the one place a platform becomes a medium; everything after
  staging branches on medium, never on a platform's name). No filtering, no logic: one row per
  landed message.
#}
{% macro staging_messages(platform) %}
{%- set media = var('media') -%}
{%- if platform not in media -%}
  {{ exceptions.raise_compiler_error("platform '" ~ platform ~ "' has no medium in var('media'): give it one in ingest/core/platforms.py TABLE and in the vars of dbt_project/dbt_project.yml") }}
{%- endif -%}
{%- if media[platform] not in ['chat', 'email'] -%}
  {{ exceptions.raise_compiler_error("platform '" ~ platform ~ "' has medium '" ~ media[platform] ~ "' in var('media'): it must be chat or email") }}
{%- endif %}
with raw as (
    select * from {{ raw_messages(platform) }}
)

select
    cast(platform as varchar) as platform,
    cast({{ sql_string(media[platform]) }} as varchar) as medium,
    cast(export_id as varchar) as export_id,
    cast(source_ref as varchar) as source_ref,
    cast(conversation_id as varchar) as conversation_id,
    cast(conversation_title as varchar) as conversation_title,
    cast(message_id as varchar) as message_id,
    cast(reply_to_message_id as varchar) as reply_to_message_id,
    cast(timestamp_ms as bigint) as timestamp_ms,
    epoch_ms(cast(timestamp_ms as bigint)) as sent_at,
    cast(sender as varchar) as sender,
    cast(direction as varchar) as direction,
    cast(participants as varchar[]) as participants,
    cast(content_type as varchar) as content_type,
    cast(subject as varchar) as subject,
    cast(body_raw as varchar) as body_raw,
    cast(body_text as varchar) as body_text,
    cast(labels as varchar[]) as labels,
    cast(is_automated as boolean) as is_automated,
    cast(is_edited as boolean) as is_edited,
    cast(reactions as struct(actor varchar, reaction varchar)[]) as reactions,
    cast(flags as varchar[]) as flags
from raw
{% endmacro %}
