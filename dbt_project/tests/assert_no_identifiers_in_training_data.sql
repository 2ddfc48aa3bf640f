-- No email address, URL, phone number or other person's name is left in any text that reaches
-- training: every message of every training example (system prompt and context included) and the
-- text columns of the messages mart. The patterns and the names are found independently of
-- macros/redact.sql and int_people__names: a name is checked by its words (runs of letters,
-- digits and _, lowercase) in the words of a text, for each full name of another person in
-- int_people, and for each first name that only one of them has. Left out, as the redaction
-- rule leaves them: my own names and their words, and one-word names that are common words,
-- titles, months or shorter than three letters (macros/names.sql), which stay where they are not
-- written as a name. Reports name only the row and the kind of identifier, never the text.
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
    union all
    select 'messages.subject_norm', message_id, subject_norm from {{ ref('messages') }} where subject_norm is not null
),

identifiers as (
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
),

people as (
    select distinct
        lower(regexp_replace(name, '<[^>]*>', '', 'g')) as display,
        is_me
    from {{ ref('int_people') }}
),

my_words as (
    select distinct unnest(regexp_extract_all(display, '[\pL\pM\pN_]+')) as word from people where is_me
    union
    select unnest(regexp_extract_all(lower(name), '[\pL\pM\pN_]+'))
    from (select unnest({{ sql_string_list(me_names()) }}) as name)
),

others as (
    select distinct regexp_extract_all(display, '[\pL\pM\pN_]+') as words
    from people
    where not is_me and not contains(display, '@') and regexp_matches(display, '\pL.*\pL')
),

names as (
    select words from others
    where array_to_string(words, ' ') not in (
        select array_to_string(regexp_extract_all(display, '[\pL\pM\pN_]+'), ' ') from people where is_me
        union
        select array_to_string(regexp_extract_all(lower(name), '[\pL\pM\pN_]+'), ' ')
        from (select unnest({{ sql_string_list(me_names()) }}) as name))
    union
    select [words[1]] from others
    where len(words) > 1
      and words[1] not in (select word from my_words)
      and words[1] not in (select words[1] from others group by all having count(*) > 1)
      and words[1] not in (select array_to_string(words, ' ') from others)
),

checked as (
    select words, ' ' || array_to_string(words, ' ') || ' ' as spaced
    from names
    where not (len(words) = 1 and (
        length(regexp_replace(words[1], '[^\pL]', '', 'g')) < 3
        or list_contains({{ common_word_names() }}, words[1])
        or list_contains({{ never_alone_names() }}, words[1])))
),

text_words as (
    select relation, row_id, ' ' || array_to_string(regexp_extract_all(lower(text), '[\pL\pM\pN_]+'), ' ') || ' ' as spaced
    from texts
),

leftover_names as (
    select distinct t.relation, t.row_id, 'name' as identifier
    from (select relation, row_id, spaced, unnest(list_distinct(string_split(trim(spaced), ' '))) as word from text_words) as t
    join checked as n on n.words[1] = t.word
    where contains(t.spaced, n.spaced)
)

select * from identifiers
union all
select * from leftover_names
