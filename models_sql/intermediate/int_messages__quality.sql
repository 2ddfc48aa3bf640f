-- Every deduplicated message (by row_id) with the first quality rule that drops it (null: kept).
-- Conversations whose dominant language is determined and not among var('languages') are
-- dropped when that list is set; `und` conversations (emoji, "haha") stay.
{%- set languages = var('languages') %}
{%- set media = ['photo', 'video', 'audio', 'sticker', 'gif', 'file', 'contact', 'location', 'poll', 'view_once'] %}

with messages as (
    select
        m.row_id, m.platform, m.message_id, m.conversation_id, m.content_type, m.is_automated,
        length({{ strip('m.body_text') }}) as text_len,
        l.lang, l.conversation_lang
    from {{ ref('int_messages__deduped') }} as m
    join {{ ref('int_messages__language') }} as l using (row_id)
)

select
    row_id, platform, message_id, conversation_id, lang, conversation_lang,
    case
        when content_type in ('system', 'reaction', 'call', 'deleted', 'calendar') then content_type
        when is_automated then 'automated'
        when content_type in ({{ "'" ~ media | join("', '") ~ "'" }}) and coalesce(text_len, 0) = 0 then 'media_only'
        when coalesce(text_len, 0) = 0 then 'empty_text'
        when text_len < {{ var('min_chars') | int }} then 'too_short'
        {%- if languages %}
        when conversation_lang <> 'und' and not list_contains({{ sql_string_list(languages) }}, conversation_lang) then 'language'
        {%- endif %}
    end as drop_reason
from messages
