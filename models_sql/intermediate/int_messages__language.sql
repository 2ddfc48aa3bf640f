-- Each message's language (from the cache the Python language step fills; `und` for texts it
-- has not seen or could not tell) and its conversation's dominant language: the most common
-- determined language of its messages, `und` when none is.
with messages as (
    select row_id, platform, message_id, conversation_id, md5(body_text) as text_hash
    from {{ ref('int_messages__deduped') }}
),

cache as (
    select text_hash, min(lang) as lang
    from {{ source_or_empty('enrich', 'text_lang', 'enrich_dir') }}
    group by text_hash
),

tagged as (
    select m.* exclude (text_hash), coalesce(c.lang, 'und') as lang
    from messages as m
    left join cache as c using (text_hash)
),

conversation_languages as (
    select platform, conversation_id, first(lang order by n desc, lang) as conversation_lang
    from (
        select platform, conversation_id, lang, count(*) as n
        from tagged
        where lang <> 'und'
        group by all
    )
    group by all
)

select t.*, coalesce(cl.conversation_lang, 'und') as conversation_lang
from tagged as t
left join conversation_languages as cl using (platform, conversation_id)
