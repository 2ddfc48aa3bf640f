-- The documented queries over warehouse/ai_me.duckdb: `ai-me sql --list` names them, `ai-me sql
-- --example NAME` runs one, and docs/analysis.md shows them (tests/analysis keeps it in step).
-- Each starts with "-- name:" and a one-line description.

-- name: words-per-month
-- How I write, month by month: volume, words per message, emoji and question rates, reply time.
select platform, month, my_messages,
       round(my_words_per_message, 1) as words_per_msg,
       round(100 * my_emoji_rate) as emoji_pct,
       round(100 * my_question_rate) as question_pct,
       round(my_reply_latency_median_minutes) as reply_minutes,
       my_vocabulary_size
from writing_patterns_monthly
order by month desc, platform
limit 24;

-- name: partners
-- Who I talk to most (pseudonyms), and how long my replies to them are.
select platform, partner_id, count(*) as messages,
       count(*) filter (where turn_role = 'assistant') as mine,
       round(avg(char_len) filter (where turn_role = 'assistant')) as my_avg_chars
from messages
group by all
order by messages desc
limit 15;

-- name: top-words
-- My most used words and emoji, side by side by rank.
select w.rank, w.word, w.uses, e.emoji, e.uses as emoji_uses
from my_top_words as w
left join my_top_emoji as e using (rank)
order by w.rank
limit 25;

-- name: emoji
-- The emoji I use most, and in how many of my messages each appears.
select rank, emoji, uses, messages
from my_top_emoji
order by rank
limit 20;

-- name: busiest-hours
-- When I am active (in [ingest] timezone): my messages as a weekday-by-hour grid.
pivot (select weekday_name, weekday, hour, my_messages from activity_by_hour)
on hour using sum(my_messages)
group by weekday, weekday_name
order by weekday;

-- name: reply-latency
-- How fast I answer, per platform: the median of the monthly median reply times, in minutes.
select platform,
       count(*) as months,
       round(median(my_reply_latency_median_minutes), 1) as median_reply_minutes,
       round(min(my_reply_latency_median_minutes), 1) as fastest_month,
       round(max(my_reply_latency_median_minutes), 1) as slowest_month
from writing_patterns_monthly
where my_reply_latency_median_minutes is not null
group by platform
order by median_reply_minutes;

-- name: platform-style
-- How my replies differ by platform: length, emoji and questions.
select platform,
       count(*) as my_messages,
       round(median(char_len)) as median_chars,
       round(100 * avg(has_emoji::int)) as emoji_pct,
       round(100 * avg((body_text like '%?%')::int)) as question_pct
from messages
where turn_role = 'assistant'
group by platform
order by my_messages desc;

-- name: languages
-- The languages of my conversations.
select conversation_lang, count(distinct conversation_id) as conversations, count(*) as messages
from messages
group by all
order by messages desc;

-- name: filters
-- What the pipeline removed, and why, per stage and platform.
select stage, reason, platform, n
from filter_counts
order by stage, n desc;

-- name: training-data
-- The training data at a glance: examples per split and platform.
select split, platform, count(*) as examples, round(avg(context_turns), 1) as avg_context,
       round(avg(token_est)) as avg_tokens, count(*) filter (where context_truncated) as truncated
from training_examples
group by all
order by split, platform;

-- name: email-threads
-- The email threads I answered most, by normalised subject.
select subject_norm, count(*) as mails, count(*) filter (where turn_role = 'assistant') as my_replies
from messages
where medium = 'email' and subject_norm is not null
group by subject_norm
order by my_replies desc, mails desc
limit 10;

-- name: one-example
-- One training example of the test split in full: its turns, role by role.
select example_id, split, unnest(messages, recursive := true)
from training_examples
where split = 'test'
limit 7;
