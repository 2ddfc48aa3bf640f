{#
  The staging select shared by every stg_<platform>__messages model: the raw columns by name,
  cast to their declared types, plus the send time as a UTC timestamp. No filtering, no logic:
  one row per landed message.
#}
{% macro staging_messages(platform) %}
with raw as (
    select * from {{ raw_messages(platform) }}
)

select
    cast(platform as varchar) as platform,
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
