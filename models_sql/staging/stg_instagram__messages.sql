-- Instagram messages as landed in warehouse/raw/instagram/: names and types only (see macros/staging_messages.sql).
{{ staging_messages('instagram') }}
