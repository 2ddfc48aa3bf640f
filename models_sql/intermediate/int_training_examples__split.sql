-- Every candidate example (by example_id) with its split and, for the ones that leave, why.
-- time (default): per platform, sessions in order of their first reply; the sessions holding the
--   newest var('test_fraction') of my replies are test, the var('val_fraction') before them val.
-- conversation: a conversation's hash picks the split of all its sessions.
-- A session is never in two splits. A reply whose text (case and spacing ignored) is already a
-- reply in an earlier split (train < val < test) leaves the later one: no target leaks.
{%- set test = var('test_fraction') | float %}
{%- set val = var('val_fraction') | float %}

{%- set columns = 'example_id, platform, conversation_id, session_id, target_ms, target_text, drop_reason' %}

with candidates as (
    select {{ columns }} from {{ ref('int_chat_examples') }}
    union all
    select {{ columns }} from {{ ref('int_email_examples') }}
),

sessions as (
    select platform, session_id, any_value(conversation_id) as conversation_id,
           min(target_ms) as first_ms, count(*) as examples
    from candidates
    where drop_reason is null
    group by all
),

placed as (
    select
        *,
        sum(examples) over (partition by platform order by first_ms, session_id rows unbounded preceding) - examples as before,
        sum(examples) over (partition by platform) as total,
        (md5_number(conversation_id) % 10000) / 10000.0 as bucket
    from sessions
),

assigned as (
    select
        platform,
        session_id,
        {%- if var('split_strategy') == 'conversation' %}
        case when bucket < {{ test }} then 'test' when bucket < {{ test + val }} then 'val' else 'train' end as split
        {%- else %}
        case when before >= total * {{ 1 - test }} then 'test'
             when before >= total * {{ 1 - test - val }} then 'val'
             else 'train' end as split
        {%- endif %}
    from placed
),

ranked as (
    select
        c.*,
        a.split,
        case a.split when 'train' then 0 when 'val' then 1 when 'test' then 2 end as split_rank,
        lower(regexp_replace({{ strip('c.target_text') }}, '\s+', ' ', 'g')) as target_key
    from candidates as c
    left join assigned as a using (platform, session_id)
),

first_seen as (
    select target_key, min(split_rank) as first_rank
    from ranked
    where drop_reason is null
    group by target_key
)

select
    r.example_id,
    r.platform,
    r.session_id,
    r.split,
    case
        when r.drop_reason is not null then r.drop_reason
        when r.split_rank > f.first_rank then 'target_in_earlier_split'
    end as drop_reason
from ranked as r
left join first_seen as f using (target_key)
