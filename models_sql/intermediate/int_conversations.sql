-- One row per conversation: its pseudonymous key, size and partner as the training examples
-- name them. The partner of a 1:1 chat is the other person's pseudonym; a group gets G + 12 hex
-- of the keyed hash of its id (titles often carry names). The key replaces conversation_id in
-- the training data, since Meta folder names spell out usernames.
with messages as (
    select m.platform, m.medium, m.conversation_id, m.sender, m.participants, m.timestamp_ms, q.conversation_lang
    from {{ ref('int_messages__deduped') }} as m
    join {{ ref('int_messages__quality') }} as q using (row_id)
),

people as (
    select * from {{ ref('int_people') }}
),

conversations as (
    select
        platform,
        conversation_id,
        any_value(medium) as medium,
        max(len(participants)) as listed,
        any_value(conversation_lang) as conversation_lang,
        min(timestamp_ms) as first_ms,
        max(timestamp_ms) as last_ms
    from messages
    group by all
),

sender_counts as (
    select platform, conversation_id, sender as name, count(*) as sent
    from messages
    where sender is not null
    group by all
),

listed as (
    select platform, conversation_id, unnest(participants) as name, generate_subscripts(participants, 1) as position
    from (select distinct platform, conversation_id, participants from messages)
),

others as (
    -- who I talk to: the other person who sent the most, else the first other one listed
    select platform, conversation_id, first(p.pseudonym order by sent desc, listed_first) as partner
    from (
        select platform, conversation_id, name, sum(sent) as sent, min(position) as listed_first
        from (
            select platform, conversation_id, name, sent, null::bigint as position from sender_counts
            union all
            select platform, conversation_id, name, 0 as sent, position from listed
        )
        group by all
    ) as candidates
    join people as p using (platform, name)
    where not p.is_me
    group by all
),

senders as (
    select platform, conversation_id, count(*) as senders
    from sender_counts
    group by all
),

select
    c.platform,
    c.medium,
    c.conversation_id,
    c.platform || ':' || left(ai_me_keyed_hash('conversation:' || c.conversation_id), 16) as conversation_key,
    greatest(2, c.listed, coalesce(s.senders, 0)) as group_size,
    greatest(2, c.listed, coalesce(s.senders, 0)) > 2 as is_group,
    case
        when c.medium = 'email' then null  -- email partners are per message (int_email_examples)
        when greatest(2, c.listed, coalesce(s.senders, 0)) > 2 then {{ pseudonym('G', 'group', 'c.conversation_id') }}
        else coalesce(o.partner, 'someone')
    end as partner,
    c.conversation_lang,
    c.first_ms,
    c.last_ms
from conversations as c
left join senders as s using (platform, conversation_id)
left join others as o using (platform, conversation_id)
