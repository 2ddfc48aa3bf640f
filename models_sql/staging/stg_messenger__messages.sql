-- Messenger messages as landed in warehouse/raw/messenger/: names and types only (see macros/staging_messages.sql).
{{ staging_messages('messenger') }}
