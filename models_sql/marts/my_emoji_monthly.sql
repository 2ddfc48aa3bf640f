-- The emoji of my kept messages, per platform and local month (var('timezone')), with how many of
-- my messages carry each: the notebook filters it by platform and date, my_top_emoji ranks it.
select
    platform,
    date_trunc('month', timezone({{ sql_string(var('timezone')) }}, to_timestamp(timestamp_ms / 1000))) as month,
    emoji,
    count(*) as uses,
    count(distinct message_id) as messages
from (
    select platform, message_id, timestamp_ms, unnest(regexp_extract_all(body_text, '{{ emoji_pattern() }}')) as emoji
    from {{ ref('messages') }}
    where turn_role = 'assistant' and has_emoji
)
group by all
