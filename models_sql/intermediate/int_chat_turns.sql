-- Chat turns (int_messages__sessions numbers them): one sender's consecutive messages in a
-- session, merged into one text with line breaks.
select
    platform,
    conversation_id,
    any_value(conversation_key) as conversation_key,
    any_value(session_id) as session_id,
    turn_no,
    first(message_id order by thread_index) as first_message_id,
    any_value(sender) as sender,
    case when bool_and(is_mine) then 'assistant' else 'user' end as role,
    string_agg(body_text, chr(10) order by thread_index) as content,
    min(timestamp_ms) as started_ms,
    max(timestamp_ms) as ended_ms,
    count(*) as messages
from {{ ref('int_messages__redacted') }}
where medium = 'chat'
group by platform, conversation_id, turn_no
