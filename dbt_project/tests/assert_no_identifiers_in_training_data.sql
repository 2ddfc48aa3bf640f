-- No email address, URL or phone number is left in any text that reaches training: every message
-- of every training example (system prompt and context included) and the text columns of the
-- messages mart. The patterns are written independently of macros/redact.sql and reports name
-- only the row and the kind of identifier, never the text.
{{ config(meta={'dagster': {'ref': {'name': 'training_examples'}}}) }}
with texts as (
    select 'training_examples' as relation, example_id as row_id, m.content as text
    from (select example_id, unnest(messages) as m from {{ ref('training_examples') }})
    union all
    select 'messages.body_text', message_id, body_text from {{ ref('messages') }}
    union all
    select 'messages.body_raw', message_id, body_raw from {{ ref('messages') }}
    union all
    select 'messages.subject', message_id, subject from {{ ref('messages') }} where subject is not null
)

select
    relation,
    row_id,
    case
        when regexp_matches(text, '[^\s@]+@[^\s@]+\.\pL{2,}') then 'email'
        when regexp_matches(text, '(?i)(https?://|www\.)\S') then 'url'
        else 'phone'
    end as identifier
from texts
where regexp_matches(text, '[^\s@]+@[^\s@]+\.\pL{2,}')
   or regexp_matches(text, '(?i)(https?://|www\.)\S')
   or regexp_matches(text, '\+\d[\d\s().-]{5,}\d')
   or regexp_matches(text, '\b\d{3}[\s.-]?\d{3}[\s.-]?\d{4}\b')
