-- The kept messages, safe to train on, with every field of the messages mart: emails, links,
-- IBANs, card numbers, IPs and phone numbers in the texts replaced by placeholders
-- (macros/redact.sql); every other person's name replaced by their pseudonym, in sender and
-- participants and in the texts (body, raw body, subject: the names of int_people__names, by the
-- rule of macros/names.sql), mine by me_name() in sender and participants; session and thread
-- fields from int_messages__sessions.
with kept as (
    select m.*, q.lang, q.conversation_lang, s.seq, s.session_id, s.turn_no, s.is_reply, s.thread_len
    from {{ ref('int_messages__deduped') }} as m
    join {{ ref('int_messages__quality') }} as q using (row_id)
    join {{ ref('int_messages__sessions') }} as s using (row_id)
    where q.drop_reason is null
),

people as (
    select * from {{ ref('int_people') }}
),

redacted as materialized (
    -- identifiers first (an address or link holds names), then names. Chats export the text
    -- twice: the raw body is redacted only where it differs.
    select
        row_id,
        {{ redact('body_text') }} as body_text,
        body_raw is not distinct from body_text as raw_is_text,
        case when body_raw is distinct from body_text then {{ redact('body_raw') }} end as body_raw,
        {{ redact('subject') }} as subject
    from kept
),

name_hits as (
    -- the names a message may hold: its words joined on each name's first word, longest name first
    select
        w.row_id,
        list({'pattern': n.pattern, 'replacement': n.replacement, 'cautious': n.cautious} order by length(n.name) desc, n.name) as names
    from (
        select row_id, unnest({{ text_words("concat_ws(' ', subject, body_text, body_raw)") }}) as word
        from redacted
    ) as w
    join {{ ref('int_people__names') }} as n on n.first_word = w.word
    group by w.row_id
),

texts as (
    select row_id, body_text, case when raw_is_text then body_text else body_raw end as body_raw, subject
    from (
        select
            r.row_id,
            r.raw_is_text,
            {{ replace_names('r.body_text', 'h.names') }} as body_text,
            {{ replace_names('r.body_raw', 'h.names') }} as body_raw,
            {{ replace_names('r.subject', 'h.names') }} as subject
        from redacted as r
        left join name_hits as h using (row_id)
    )
),

participant_lists as (
    -- each distinct list once: pseudonyms in the listed order, and my own spelling in it
    select
        l.platform,
        l.participants,
        list(case when p.is_me then {{ sql_string(me_name()) }} else p.pseudonym end order by l.position) as pseudonymised,
        first(l.name order by l.position) filter (where p.is_me) as my_name
    from (
        select platform, participants, unnest(participants) as name, generate_subscripts(participants, 1) as position
        from (select distinct platform, participants from kept)
    ) as l
    join people as p using (platform, name)
    group by all
),

pseudonymised as (
    select
        k.*,
        k.direction = 'outbound' as is_mine,
        case when k.direction = 'outbound' then {{ sql_string(me_name()) }} else coalesce(s.pseudonym, 'someone') end as sender_pseudonym,
        case when k.direction = 'outbound' then k.sender else pl.my_name end as account,
        coalesce(pl.pseudonymised, []) as participants_pseudonymised,
        c.conversation_key,
        c.partner as conversation_partner,
        t.body_text as redacted_text,
        t.body_raw as redacted_raw,
        t.subject as redacted_subject
    from kept as k
    join texts as t using (row_id)
    join {{ ref('int_conversations') }} as c on c.platform = k.platform and c.conversation_id = k.conversation_id
    left join people as s on s.platform = k.platform and s.name = k.sender
    left join participant_lists as pl on pl.platform = k.platform and pl.participants = k.participants
)

select
    platform,
    medium,
    conversation_id,
    conversation_key,
    message_id,
    timestamp_ms,
    strftime(epoch_ms(timestamp_ms), '%Y-%m-%dT%H:%M:%SZ') as date_iso,
    sender_pseudonym as sender,
    direction,
    is_mine,
    participants_pseudonymised as participants,
    redacted_raw as body_raw,
    redacted_text as body_text,
    redacted_subject as subject,
    nullif(lower(trim(regexp_replace(redacted_subject, '^(\s*(re|fwd?|aw|wg|sv|vs|tr|rv|enc|antw)(\[\d+\])?\s*:)+', '', 'i'))), '') as subject_norm,
    reply_to_message_id,
    account,
    case when medium = 'email' then lower(regexp_extract(sender, '@([^\s>]+)', 1)) end as sender_domain,
    case
        when medium = 'chat' then conversation_partner
        when is_mine then list_filter(participants_pseudonymised, lambda p: p <> {{ sql_string(me_name()) }})[1]
        else sender_pseudonym
    end as partner_id,
    is_reply,
    case when is_mine then 'assistant' else 'user' end as turn_role,
    content_type,
    lang,
    length(redacted_text) as char_len,
    {{ token_estimate('redacted_text') }} as token_est,
    regexp_matches(redacted_text, '{{ emoji_pattern() }}') as has_emoji,
    seq as thread_index,
    thread_len,
    session_id,
    turn_no,
    conversation_lang,
    is_edited
from pseudonymised
