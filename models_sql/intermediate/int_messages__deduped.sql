-- One row per message, every column: the landed rows int_messages__dedup_flagged keeps.
{{ config(materialized='view') }}

select *
from {{ ref('int_messages__unioned') }}
where row_id in (select row_id from {{ ref('int_messages__dedup_flagged') }} where duplicate_rule is null)
