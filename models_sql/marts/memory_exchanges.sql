-- The memory: my replies of the train split with the message each answered, redacted as the
-- training data are. training/memory/ indexes it (BM25 over `incoming`) and puts the closest
-- exchanges into the prompt at reply time. Only the train split: evaluation on test stays honest.
select
    example_id,
    platform,
    conversation_id,
    partner,
    group_size,
    target_ms,
    split,
    messages[-2].content as incoming,
    messages[-1].content as reply
from {{ ref('training_examples') }}
where split = 'train'
    and len(messages) >= 3
    and messages[-2].role = 'user'
