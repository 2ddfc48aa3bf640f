-- Every other person's name as a message text may write it, with the pseudonym that replaces it
-- there (int_messages__redacted) and the pattern that finds it; macros/names.sql has the rule:
-- each full name, and its first word alone when that word names one known person only. Names
-- are known from every platform at once (a Gmail signature names someone seen on WhatsApp) and
-- compared by their words (name_words), an address's `<...>` part left off. Addresses, numbers
-- and anything with fewer than two letters are no names (the identifier redaction has those).
-- My own names, and every word of them, are never replaced.
with people as (
    select distinct
        array_to_string({{ name_words("regexp_replace(name, '<[^>]*>', '', 'g')") }}, ' ') as name_key,
        pseudonym,
        is_me,
        contains(regexp_replace(name, '<[^>]*>', '', 'g'), '@') as is_address
    from {{ ref('int_people') }}
),

mine as (
    select name_key from people where is_me
    union
    select array_to_string({{ name_words('name') }}, ' ')
    from (select unnest({{ sql_string_list(me_names()) }}) as name)
),

my_words as (
    select distinct unnest(string_split(name_key, ' ')) as word from mine
),

full_names as (
    -- one pseudonym per name: the person's own where one person has it, else the name's own
    select
        name_key,
        case when count(distinct pseudonym) = 1 then any_value(pseudonym)
             else {{ pseudonym('P', 'person', 'name_key') }} end as pseudonym
    from people
    where not is_me
      and not is_address
      and length(regexp_replace(name_key, '[^\pL]', '', 'g')) >= 2
      and name_key not in (select name_key from mine)
    group by name_key
),

first_names as (
    select string_split(name_key, ' ')[1] as name_key, any_value(pseudonym) as pseudonym
    from full_names
    where contains(name_key, ' ')
    group by all
    having count(*) = 1
),

variants as (
    select name_key, pseudonym, false as first_only from full_names
    union all
    select name_key, pseudonym, true as first_only
    from first_names
    where name_key not in (select name_key from full_names)
      and name_key not in (select word from my_words)
      and not list_contains({{ never_alone_names() }}, name_key)
      and length(regexp_replace(name_key, '[^\pL]', '', 'g')) >= 2
),

rules as (
    select
        *,
        not contains(name_key, ' ')
            and (list_contains({{ common_word_names() }}, name_key)
                 or list_contains({{ never_alone_names() }}, name_key)
                 or length(regexp_replace(name_key, '[^\pL]', '', 'g')) < 3) as cautious
    from variants
)

select
    name_key as name,
    pseudonym,
    first_only,
    cautious,
    string_split(name_key, ' ')[1] as first_word,
    {{ name_pattern('name_key', 'cautious') }} as pattern,
    {{ name_replacement('pseudonym', 'cautious') }} as replacement
from rules
