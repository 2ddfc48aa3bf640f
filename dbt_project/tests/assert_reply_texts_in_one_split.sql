-- No reply text (the final assistant message) is a target in two splits.
select md5(messages[-1].content) as target_hash, count(distinct split) as splits
from {{ ref('training_examples') }}
group by messages[-1].content
having count(distinct split) > 1
