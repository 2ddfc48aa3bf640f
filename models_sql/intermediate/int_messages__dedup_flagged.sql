-- Every landed message (by row_id), with the dedup rule that removes it (null: kept).
-- 1. same_message_id: the same platform and message_id seen again (a repeated or overlapping
--    export); the copy from the first export_id stays.
-- 2. same_content_within_tolerance: ids that differ between exports, but the same conversation,
--    sender and content with timestamps chained within the tolerance. Such a cluster holds the
--    same messages once per export: the export with the most copies in it (the one that saw them
--    all) keeps its rows, the other exports' rows go. Copies inside one export never collapse, so
--    "haha" sent twice in a minute stays twice. Only conversations seen in several exports can
--    hold such copies, so only their rows go through the windows.
with unioned as (
    select row_id, platform, export_id, source_ref, message_id, conversation_id
    from {{ ref('int_messages__unioned') }}
),

repeated_ids as (
    select platform, message_id, arg_min(row_id, (export_id, source_ref)) as kept_row_id
    from unioned
    group by all
    having count(*) > 1
),

by_id as (
    select u.*, r.kept_row_id is not null and r.kept_row_id <> u.row_id as repeated
    from unioned as u
    left join repeated_ids as r using (platform, message_id)
),

shared_conversations as (
    select platform, conversation_id
    from by_id
    where not repeated
    group by all
    having count(distinct export_id) > 1
),

candidates as (
    -- the first copies of messages in conversations that several exports hold
    select
        m.row_id, m.platform, m.conversation_id, m.export_id, m.source_ref, m.sender, m.timestamp_ms,
        hash(m.content_type, coalesce(m.body_text, m.body_raw, '')) as content_hash
    from {{ ref('int_messages__unioned') }} as m
    semi join shared_conversations as s using (platform, conversation_id)
    where m.row_id not in (select row_id from by_id where repeated)
),

chained as (
    select
        *,
        coalesce(timestamp_ms - lag(timestamp_ms) over same_content > {{ var('dedup_tolerance_seconds') | int * 1000 }},
                 true) as starts_cluster
    from candidates
    window same_content as (partition by platform, conversation_id, sender, content_hash
                            order by timestamp_ms, export_id, source_ref)
),

clustered as (
    select
        *,
        sum(starts_cluster::integer) over (partition by platform, conversation_id, sender, content_hash
                                           order by timestamp_ms, export_id, source_ref
                                           rows unbounded preceding) as cluster_no
    from chained
),

counted as (
    select *, count(*) over (partition by platform, conversation_id, sender, content_hash, cluster_no, export_id) as export_copies
    from clustered
),

content_copies as (
    select row_id
    from (
        select
            row_id, export_id,
            first_value(export_id) over (partition by platform, conversation_id, sender, content_hash, cluster_no
                                         order by export_copies desc, export_id) as kept_export
        from counted
    )
    where export_id <> kept_export
)

select
    row_id, platform, export_id, source_ref, message_id, conversation_id,
    case
        when repeated then 'same_message_id'
        when row_id in (select row_id from content_copies) then 'same_content_within_tolerance'
    end as duplicate_rule
from by_id
