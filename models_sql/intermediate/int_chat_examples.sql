-- One candidate training example per chat turn of mine that answers someone (the turn before it
-- in the session is someone else's). Context: up to var('context_turns') earlier blocks of the
-- session, a block being consecutive turns of one role (in groups each person's turn is prefixed
-- with their pseudonym), so roles alternate; it starts with `user`. Context is cut from the
-- oldest end to fit var('token_budget'), never the reply; a reply that cannot fit with even part
-- of the message it answers is dropped as over_token_budget.
{%- set budget = var('token_budget') | int %}

with turns as (
    select t.*, c.is_group, c.group_size, c.partner, c.conversation_lang
    from {{ ref('int_chat_turns') }} as t
    join {{ ref('int_conversations') }} as c using (platform, conversation_id)
),

roles as (
    -- keys only through the windows: the texts join back afterwards
    select
        session_id, turn_no, role, previous_role,
        sum(case when role is distinct from previous_role then 1 else 0 end)
            over (partition by session_id order by turn_no rows unbounded preceding) as block_no
    from (
        select session_id, turn_no, role, lag(role) over (partition by session_id order by turn_no) as previous_role
        from turns
    )
),

blocked as (
    select t.*, r.previous_role, r.block_no
    from turns as t
    join roles as r using (session_id, turn_no)
),

blocks as (
    select
        session_id,
        block_no,
        any_value(role) as role,
        string_agg(case when is_group and role = 'user' then sender || ': ' || content else content end,
                   chr(10) order by turn_no) as content
    from blocked
    group by all
),

contexts as (
    -- through: the session's tokens up to and including the block, so the tokens from a context
    -- block to the reply are the last block's `through` minus its own plus its tokens
    select
        session_id,
        block_no,
        list({'role': role, 'content': content, 'tokens': tokens, 'through': through})
            over (partition by session_id order by block_no
                  rows between {{ var('context_turns') | int }} preceding and 1 preceding) as context
    from (
        select *, sum(tokens) over (partition by session_id order by block_no rows unbounded preceding) as through
        from (select *, {{ token_estimate('content') }} as tokens from blocks)
    )
),

targets as (
    select
        t.*,
        {{ system_prompt('t.platform', 't.partner', 't.group_size') }} as system_prompt,
        c.context
    from blocked as t
    join contexts as c using (session_id, block_no)
    where t.role = 'assistant' and t.previous_role = 'user'
),

budgeted as (
    select
        *,
        {{ budget }} - {{ token_estimate('system_prompt') }} - {{ token_estimate('content') }} as room
    from targets
),

fitted as (
    select
        *,
        -- the newest blocks whose tokens, from there to the reply, fit in the room
        list_filter(context, lambda b: context[-1].through - b.through + b.tokens <= room) as fitting
    from budgeted
),

started as (
    select
        *,
        case
            when len(fitting) = 0 and room > 0
                then [{'role': 'user', 'content': right(context[-1].content, room * 4), 'tokens': room, 'through': 0}]
            when fitting[1].role = 'assistant' then fitting[2:]
            else fitting
        end as kept,
        len(fitting) < len(context) as context_truncated
    from fitted
)

select
    left(md5(platform || ':' || first_message_id), 16) as example_id,
    platform,
    conversation_key as conversation_id,
    session_id,
    started_ms as target_ms,
    content as target_text,
    list_concat(
        [{'role': 'system', 'content': system_prompt}],
        list_transform(kept, lambda b: {'role': b.role, 'content': b.content}),
        [{'role': 'assistant', 'content': content}]
    ) as messages,
    len(kept) as context_turns,
    {{ token_estimate('system_prompt') }} + {{ token_estimate('content') }}
        + coalesce(list_sum(list_transform(kept, lambda b: b.tokens)), 0) as token_est,
    context_truncated,
    partner,
    group_size,
    conversation_lang as lang,
    case when room <= 0 then 'over_token_budget' end as drop_reason
from started
