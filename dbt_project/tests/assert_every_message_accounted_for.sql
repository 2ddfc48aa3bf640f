-- Nothing is lost silently: per platform, the landed rows equal those dedup removed plus those
-- the quality step dropped or kept, as filter_counts reports them.
{{ config(meta={'dagster': {'ref': {'name': 'filter_counts'}}}) }}
with landed as (
    select platform, count(*) as n from {{ ref('int_messages__unioned') }} group by all
),

counted as (
    select platform, sum(n) as n from {{ ref('filter_counts') }} where stage in ('dedup', 'quality') group by all
)

select platform, l.n as landed, c.n as counted
from landed as l
full join counted as c using (platform)
where l.n is distinct from c.n
