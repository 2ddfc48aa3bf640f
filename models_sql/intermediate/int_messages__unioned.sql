-- Every platform's staging rows in one relation (var('platforms'): one stg_<platform>__messages
-- model each, medium included), plus the row's place in its export: file_key (a number for the
-- export and file) and source_pos (the last number of source_ref: line, JSON index or byte
-- offset). WhatsApp times have minute precision, so messages of one minute keep the order they
-- had in the chat. row_id identifies a landed row in one number, for the narrow models to join
-- back on.
{{ config(materialized='view') }}

{% for platform in var('platforms') %}
select
    *,
    hash(platform, export_id, source_ref) as row_id,
    hash(export_id, regexp_replace(source_ref, '\d+\D*$', '')) as file_key,
    coalesce(try_cast(regexp_extract(source_ref, '(\d+)\D*$', 1) as bigint), 0) as source_pos
from {{ ref('stg_' ~ platform ~ '__messages') }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
