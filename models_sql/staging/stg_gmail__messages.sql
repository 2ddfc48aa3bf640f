-- Gmail messages as landed in warehouse/raw/gmail/: names and types only (see macros/staging_messages.sql).
{{ staging_messages('gmail') }}
