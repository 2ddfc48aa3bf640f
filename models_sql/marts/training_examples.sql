-- The training examples that stay, with their split: what warehouse/datasets/ is exported from
-- (ingest/transform/datasets.py writes example_id, platform, conversation_id, session_id, split, messages).
{%- set columns = 'example_id, conversation_id, target_ms, messages, context_turns, token_est, context_truncated, partner, group_size, lang' %}

with candidates as (
    select {{ columns }} from {{ ref('int_chat_examples') }}
    union all
    select {{ columns }} from {{ ref('int_email_examples') }}
)

select
    s.example_id,
    s.platform,
    c.conversation_id,
    s.session_id,
    s.split,
    c.messages,
    c.target_ms,
    strftime(epoch_ms(c.target_ms), '%Y-%m-%dT%H:%M:%SZ') as target_date_iso,
    c.context_turns,
    c.token_est,
    c.context_truncated,
    c.partner,
    c.group_size,
    c.lang
from {{ ref('int_training_examples__split') }} as s
join candidates as c using (example_id)
where s.drop_reason is null
