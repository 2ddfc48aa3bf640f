-- One candidate training example per email of mine that answers an incoming mail of its thread:
-- the mail it names in In-Reply-To, else the latest incoming mail before it. `user` is that mail
-- (its quoted history already stripped at ingest, its subject on top), `assistant` my reply.
-- When the pair exceeds var('token_budget') the incoming mail loses its end, never the reply.
{%- set budget = var('token_budget') | int %}

with mails as (
    select
        platform, conversation_id, conversation_key, session_id, message_id, reply_to_message_id, timestamp_ms,
        sender, is_mine, participants, subject, body_text, conversation_lang
    from {{ ref('int_messages__redacted') }}
    where medium = 'email'
),

replies as (
    select * from mails where is_mine
),

incoming as (
    select * from mails where not is_mine
),

by_reference as (
    select r.message_id, i.message_id as parent_id
    from replies as r
    join incoming as i on i.conversation_id = r.conversation_id and i.message_id = r.reply_to_message_id
),

by_time as (
    select r.message_id, i.message_id as parent_id
    from replies as r
    asof join incoming as i on i.conversation_id = r.conversation_id and r.timestamp_ms > i.timestamp_ms
),

pairs as (
    select
        r.*,
        p.sender as partner,
        case when coalesce(p.subject, '') <> '' then 'Subject: ' || p.subject || chr(10) || chr(10) else '' end
            || p.body_text as incoming_text
    from replies as r
    left join by_reference as br using (message_id)
    left join by_time as bt using (message_id)
    join incoming as p on p.message_id = coalesce(br.parent_id, bt.parent_id)
),

budgeted as (
    select
        *,
        greatest(2, len(participants)) as group_size,
        {{ system_prompt('platform', 'partner', 'greatest(2, len(participants))') }} as system_prompt
    from pairs
),

fitted as (
    select
        *,
        {{ budget }} - {{ token_estimate('system_prompt') }} - {{ token_estimate('body_text') }} as room
    from budgeted
)

select
    left(md5(platform || ':' || message_id), 16) as example_id,
    platform,
    conversation_key as conversation_id,
    session_id,
    timestamp_ms as target_ms,
    body_text as target_text,
    [{'role': 'system', 'content': system_prompt},
     {'role': 'user', 'content': left(incoming_text, greatest(room, 0) * 4)},
     {'role': 'assistant', 'content': body_text}] as messages,
    1 as context_turns,
    {{ token_estimate('system_prompt') }} + {{ token_estimate('body_text') }}
        + least({{ token_estimate('incoming_text') }}, greatest(room, 0)) as token_est,
    {{ token_estimate('incoming_text') }} > room as context_truncated,
    partner,
    group_size,
    conversation_lang as lang,
    case when room <= 0 then 'over_token_budget' end as drop_reason
from fitted
