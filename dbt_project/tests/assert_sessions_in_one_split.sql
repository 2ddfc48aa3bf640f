-- A session's examples all share one split: no conversation moment leaks from train into eval.
select session_id, count(distinct split) as splits
from {{ ref('training_examples') }}
group by session_id
having count(distinct split) > 1
