-- The words of my kept messages, lowercased, counted per platform and local month
-- (var('timezone')); placeholders such as [EMAIL] are not words. Feeds the writing-pattern marts.
select platform, month, word, count(*) as uses
from (
    select
        platform,
        date_trunc('month', timezone({{ sql_string(var('timezone')) }}, to_timestamp(timestamp_ms / 1000))) as month,
        unnest(regexp_extract_all(lower(regexp_replace(body_text, '\[[A-Z]+\]', ' ', 'g')), '[\pL\pN]+(?:''[\pL\pN]+)*')) as word
    from {{ ref('int_messages__redacted') }}
    where is_mine
)
group by all
