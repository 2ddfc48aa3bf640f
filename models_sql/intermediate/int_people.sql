-- Everyone who appears as a sender or participant, per platform: whether it is me, and the
-- pseudonym that stands for anyone else (P + 12 hex of the keyed hash of the name as compared).
-- Me: a name I have sent messages under on that platform, or one of me_names() (macros/me.sql).
with messages as (
    select platform, sender, direction, participants from {{ ref('int_messages__deduped') }}
),

names as (
    select platform, sender as name from messages where sender is not null
    union
    select platform, unnest(participants) as name
    from (select distinct platform, participants from messages)
),

mine as (
    select distinct platform, {{ name_key('sender') }} as name_key
    from messages
    where direction = 'outbound' and sender is not null
)

select
    n.platform,
    n.name,
    mine.name_key is not null or list_contains({{ sql_string_list(me_names()) }}, {{ name_key('n.name') }}) as is_me,
    {{ pseudonym('P', 'person', name_key('n.name')) }} as pseudonym
from (select distinct platform, name from names where name is not null) as n
left join mine on mine.platform = n.platform and mine.name_key = {{ name_key('n.name') }}
