-- How I write, per platform and local month (var('timezone')): volume, words per message, emoji
-- and question rates, median reply latency (my turn after someone else's; email: after the mail
-- I answer) and vocabulary size. Placeholders such as [EMAIL] are not words.
with messages as (
    select
        platform, medium, message_id, reply_to_message_id, timestamp_ms, turn_role, has_emoji, body_text,
        date_trunc('month', timezone({{ sql_string(var('timezone')) }}, to_timestamp(timestamp_ms / 1000))) as month
    from {{ ref('messages') }}
),

chat_latencies as (
    select platform, started_ms as replied_ms, started_ms - previous_ended_ms as latency_ms
    from (
        select *, lag(role) over w as previous_role, lag(ended_ms) over w as previous_ended_ms
        from {{ ref('int_chat_turns') }}
        window w as (partition by session_id order by turn_no)
    )
    where role = 'assistant' and previous_role = 'user'
),

email_latencies as (
    select r.platform, r.timestamp_ms as replied_ms, r.timestamp_ms - p.timestamp_ms as latency_ms
    from messages as r
    join messages as p on p.platform = r.platform and p.message_id = r.reply_to_message_id
    where r.medium = 'email' and r.turn_role = 'assistant' and p.turn_role = 'user' and r.timestamp_ms >= p.timestamp_ms
),

latencies as (
    select
        platform,
        date_trunc('month', timezone({{ sql_string(var('timezone')) }}, to_timestamp(replied_ms / 1000))) as month,
        median(latency_ms) / 60000.0 as my_reply_latency_median_minutes
    from (select * from chat_latencies union all select * from email_latencies)
    group by all
),

vocabulary as (
    select platform, month, sum(uses) as my_words, count(*) as my_vocabulary_size
    from {{ ref('int_my_words') }}
    group by all
),

volume as (
    select
        platform,
        month,
        count(*) as messages,
        count(*) filter (where turn_role = 'assistant') as my_messages,
        avg(has_emoji::integer) filter (where turn_role = 'assistant') as my_emoji_rate,
        avg((body_text like '%?%')::integer) filter (where turn_role = 'assistant') as my_question_rate
    from messages
    group by all
)

select
    v.platform,
    cast(v.month as date) as month,
    v.messages,
    v.my_messages,
    coalesce(w.my_words, 0) / nullif(v.my_messages, 0) as my_words_per_message,
    v.my_emoji_rate,
    v.my_question_rate,
    l.my_reply_latency_median_minutes,
    coalesce(w.my_vocabulary_size, 0) as my_vocabulary_size
from volume as v
left join latencies as l using (platform, month)
left join vocabulary as w using (platform, month)
