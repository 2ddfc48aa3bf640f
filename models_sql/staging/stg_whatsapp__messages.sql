-- WhatsApp messages as landed in warehouse/raw/whatsapp/: names and types only (see macros/staging_messages.sql).
{{ staging_messages('whatsapp') }}
