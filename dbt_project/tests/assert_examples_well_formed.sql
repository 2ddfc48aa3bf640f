-- Every example is system, then user, then alternating turns ending with my reply as assistant,
-- with no empty message, within the token budget.
select example_id
from {{ ref('training_examples') }}
where len(messages) < 3
   or messages[1].role <> 'system'
   or messages[2].role <> 'user'
   or messages[-1].role <> 'assistant'
   or len(list_filter(messages[2:], lambda m, i: m.role <> case when (len(messages) - 1 - i) % 2 = 0 then 'assistant' else 'user' end)) > 0
   or len(list_filter(messages, lambda m: coalesce(m.content, '') = '')) > 0
   or token_est > {{ var('token_budget') | int }}
