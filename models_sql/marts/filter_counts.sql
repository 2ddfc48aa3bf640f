-- What each step removed, per platform: dedup rules, quality reasons (language included), the
-- messages kept, and the training examples per split or the reason they left.
select 'dedup' as stage, duplicate_rule as reason, platform, count(*) as n
from {{ ref('int_messages__dedup_flagged') }}
where duplicate_rule is not null
group by all

union all

select 'quality', coalesce(drop_reason, 'kept'), platform, count(*)
from {{ ref('int_messages__quality') }}
group by all

union all

select 'examples', coalesce(drop_reason, split), platform, count(*)
from {{ ref('int_training_examples__split') }}
group by all
