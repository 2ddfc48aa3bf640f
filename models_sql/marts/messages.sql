-- One row per kept message, redacted and pseudonymised, with the derived fields of the original
-- project's schema (see _marts.yml); int_messages__redacted holds them, this names the mart.
{{ config(materialized='view') }}

select
    conversation_id, message_id, timestamp_ms, date_iso, sender, direction, participants, body_raw,
    body_text, subject, subject_norm, reply_to_message_id, account, sender_domain, partner_id,
    is_reply, turn_role, content_type, lang, char_len, token_est, has_emoji, thread_index,
    thread_len, platform, medium, session_id, conversation_lang
from {{ ref('int_messages__redacted') }}
