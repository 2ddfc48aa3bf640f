-- The emoji I use most, over every platform, with how many of my messages carry each (a message
-- lies in one platform and month, so the monthly counts add up).
select
    row_number() over (order by sum(uses) desc, emoji) as rank,
    emoji,
    sum(uses)::bigint as uses,
    sum(messages)::bigint as messages
from {{ ref('my_emoji_monthly') }}
group by emoji
