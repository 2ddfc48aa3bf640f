-- The emoji I use most, over every platform, with how many of my messages carry each.
with emoji as (
    select message_id, platform, unnest(regexp_extract_all(body_text, '{{ emoji_pattern() }}')) as emoji
    from {{ ref('messages') }}
    where turn_role = 'assistant' and has_emoji
)

select
    row_number() over (order by count(*) desc, emoji) as rank,
    emoji,
    count(*) as uses,
    count(distinct (platform, message_id)) as messages
from emoji
group by emoji
