-- When conversations happen, per platform, local weekday (ISO: 1 = Monday) and hour (var('timezone')).
with local as (
    select *, timezone({{ sql_string(var('timezone')) }}, to_timestamp(timestamp_ms / 1000)) as local_time
    from {{ ref('messages') }}
)

select
    platform,
    isodow(local_time) as weekday,
    dayname(local_time) as weekday_name,
    hour(local_time) as hour,
    count(*) as messages,
    count(*) filter (where turn_role = 'assistant') as my_messages
from local
group by all
