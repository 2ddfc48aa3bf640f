-- The kept messages in conversation order (seq), cut into sessions and turns. Keys only: the
-- texts are redacted in int_messages__redacted, which joins this back.
-- Session: a chat session ends at a silence longer than var('session_gap_hours'); an email thread
-- is one session. session_id is the conversation key and the session's first timestamp, so it
-- survives new exports of later messages.
-- Turn (chats): consecutive messages of one sender in a session, each within
-- var('turn_gap_minutes') of the previous one; turn_no counts them per conversation. All my
-- spellings are one sender.
with kept as (
    select
        m.row_id, m.platform, m.medium, m.conversation_id, c.conversation_key, m.message_id, m.reply_to_message_id,
        m.timestamp_ms, m.file_key, m.source_pos,
        m.direction = 'outbound' as is_mine,
        case when m.direction = 'outbound' then '' else coalesce(m.sender, '') end as speaker
    from {{ ref('int_messages__deduped') }} as m
    join {{ ref('int_messages__quality') }} as q using (row_id)
    join {{ ref('int_conversations') }} as c on c.platform = m.platform and c.conversation_id = m.conversation_id
    where q.drop_reason is null
),

ordered as (
    select
        * exclude (file_key, source_pos),
        row_number() over in_order as seq,
        lag(timestamp_ms) over in_order as previous_ms,
        lag(speaker) over in_order as previous_speaker,
        count(*) over (partition by platform, conversation_id) as thread_len
    from kept
    window in_order as (partition by platform, conversation_id
                        order by timestamp_ms, file_key, source_pos)
),

boundaries as (
    select
        *,
        previous_ms is null
            or (medium = 'chat' and timestamp_ms - previous_ms > {{ ms('session_gap_hours', 3600000) }}) as starts_session,
        timestamp_ms - previous_ms > {{ ms('turn_gap_minutes', 60000) }} or speaker <> previous_speaker as breaks_turn
    from ordered
)

select
    * exclude (speaker, previous_ms, previous_speaker, starts_session, breaks_turn),
    conversation_key || ':' || max(case when starts_session then timestamp_ms end) over running as session_id,
    sum(case when starts_session or breaks_turn then 1 else 0 end) over running as turn_no,
    case
        when medium = 'email' then reply_to_message_id is not null
        else not starts_session and speaker <> previous_speaker
    end as is_reply
from boundaries
window running as (partition by platform, conversation_id order by seq rows unbounded preceding)
