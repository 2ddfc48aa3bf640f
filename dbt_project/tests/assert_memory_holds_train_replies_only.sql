-- No exchange in the memory is an example of the val or test split (by id or by reply text):
-- retrieval at evaluation time could otherwise hand the model the answer it is scored on.
{{ config(meta={'dagster': {'ref': {'name': 'memory_exchanges'}}}) }}
select m.example_id
from {{ ref('memory_exchanges') }} as m
join {{ ref('training_examples') }} as t
    on t.example_id = m.example_id or t.messages[-1].content = m.reply
where t.split <> 'train'
