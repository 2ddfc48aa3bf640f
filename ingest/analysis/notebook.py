"""Your writing patterns: a marimo notebook over the warehouse (`ai-me analyze` serves it).

Read-only on the database named by $AI_ME_DATABASE; local times in $AI_ME_TIMEZONE. Other people
appear only as the marts' pseudonyms. Every chart follows the platform and date filters."""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="ai-me: your writing patterns")


@app.cell
def _():
    import os

    import altair as alt
    import duckdb
    import marimo as mo

    con = duckdb.connect(os.environ["AI_ME_DATABASE"], read_only=True, config={"autoinstall_known_extensions": False})
    zone = os.environ.get("AI_ME_TIMEZONE", "UTC").replace("'", "''")
    local = f"timezone('{zone}', to_timestamp(timestamp_ms / 1000))"
    return alt, con, local, mo


@app.cell
def _(con, local, mo):
    _platforms = [p for (p,) in con.sql("select distinct platform from messages order by 1").fetchall()]
    _first, _last = con.execute(f"select min({local})::date, max({local})::date from messages").fetchall()[0]
    platforms = mo.ui.multiselect(options=_platforms, value=_platforms, label="Platforms")
    dates = mo.ui.date_range(start=_first, stop=_last, value=(_first, _last), label="Dates")
    mo.vstack(
        [
            mo.md("# Your writing patterns\nFrom `warehouse/ai_me.duckdb`; other people appear as pseudonyms."),
            mo.hstack([platforms, dates], justify="start", gap=2),
        ]
    )
    return dates, platforms


@app.cell
def _(dates, local, platforms):
    # Every query below takes these two filters; the values come from the widgets' own options.
    _chosen = ", ".join("'" + p.replace("'", "''") + "'" for p in platforms.value) or "null"
    _start, _end = dates.value
    on_platforms = f"platform in ({_chosen})"
    in_dates = f"{local}::date between date '{_start}' and date '{_end}'"
    in_months = f"month between date_trunc('month', date '{_start}') and date '{_end}'"
    return in_dates, in_months, on_platforms


@app.cell
def _(con, in_dates, local, mo, on_platforms):
    monthly = mo.sql(
        f"""
        select platform, date_trunc('month', {local})::date as month,
               count(*) as messages,
               sum(len(regexp_extract_all(body_text, '[\\pL\\pN]+'))) as words
        from messages
        where turn_role = 'assistant' and {on_platforms} and {in_dates}
        group by all
        order by month, platform
        """,
        engine=con,
        output=False,
    )
    return (monthly,)


@app.cell
def _(alt, mo, monthly):
    _base = alt.Chart(monthly).encode(
        x=alt.X("yearmonth(month):T", title="month"), color=alt.Color("platform:N"), tooltip=["platform", "month:T"]
    )
    mo.vstack(
        [
            mo.md("## Messages and words per month\nWhat you sent, by platform."),
            alt.hconcat(
                _base.mark_bar().encode(y=alt.Y("messages:Q", title="my messages")).properties(width=300, height=200),
                _base.mark_bar().encode(y=alt.Y("words:Q", title="my words")).properties(width=300, height=200),
            ),
        ]
    )
    return


@app.cell
def _(con, in_dates, local, mo, on_platforms):
    activity = mo.sql(
        f"""
        select isodow({local}) as weekday, dayname({local}) as day, hour({local}) as hour, count(*) as messages
        from messages
        where turn_role = 'assistant' and {on_platforms} and {in_dates}
        group by all
        """,
        engine=con,
        output=False,
    )
    return (activity,)


@app.cell
def _(activity, alt, mo):
    _days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    mo.vstack(
        [
            mo.md("## When you write\nYour messages by weekday and hour, in your timezone."),
            alt.Chart(activity)
            .mark_rect()
            .encode(
                x=alt.X("hour:O", title="hour"),
                y=alt.Y("day:N", sort=_days, title=None),
                color=alt.Color("messages:Q", scale=alt.Scale(scheme="blues")),
                tooltip=["day", "hour", "messages"],
            )
            .properties(width=620, height=200),
        ]
    )
    return


@app.cell
def _(con, in_months, mo, on_platforms):
    latency = mo.sql(
        f"""
        select platform, month, my_reply_latency_median_minutes as minutes
        from writing_patterns_monthly
        where my_reply_latency_median_minutes is not null and {on_platforms} and {in_months}
        order by month
        """,
        engine=con,
        output=False,
    )
    return (latency,)


@app.cell
def _(alt, latency, mo):
    mo.vstack(
        [
            mo.md("## How fast you reply\nMedian minutes from their message to your answer, per month."),
            alt.Chart(latency)
            .mark_line(point=True)
            .encode(
                x=alt.X("yearmonth(month):T", title="month"),
                y=alt.Y("minutes:Q", title="median reply (minutes)", scale=alt.Scale(type="symlog")),
                color="platform:N",
                tooltip=["platform", "month:T", alt.Tooltip("minutes:Q", format=".1f")],
            )
            .properties(width=620, height=220),
        ]
    )
    return


@app.cell
def _(con, in_dates, local, mo, on_platforms):
    habits = mo.sql(
        f"""
        unpivot (
            select date_trunc('month', {local})::date as month,
                   avg(has_emoji::int) as "emoji",
                   avg((body_text like '%!%')::int) as "exclamation mark",
                   avg((body_text like '%?%')::int) as "question mark",
                   avg((body_text like '%...%' or body_text like '%…%')::int) as "ellipsis",
                   avg((body_text = lower(body_text))::int) as "all lowercase"
            from messages
            where turn_role = 'assistant' and {on_platforms} and {in_dates}
            group by all
        ) on columns(* exclude (month)) into name habit value share
        order by month
        """,
        engine=con,
        output=False,
    )
    return (habits,)


@app.cell
def _(alt, habits, mo):
    mo.vstack(
        [
            mo.md("## Emoji and punctuation\nThe share of your messages with each habit, month by month."),
            alt.Chart(habits)
            .mark_line(point=True)
            .encode(
                x=alt.X("yearmonth(month):T", title="month"),
                y=alt.Y("share:Q", axis=alt.Axis(format="%"), title="of my messages"),
                color="habit:N",
                tooltip=["habit", "month:T", alt.Tooltip("share:Q", format=".0%")],
            )
            .properties(width=620, height=220),
        ]
    )
    return


@app.cell
def _(con, in_months, mo, on_platforms):
    top_words = mo.sql(
        f"""
        select word, sum(uses)::bigint as uses
        from int_my_words
        where {on_platforms} and {in_months}
        group by word
        order by uses desc, word
        limit 20
        """,
        engine=con,
        output=False,
    )
    top_emoji = mo.sql(
        f"""
        select emoji, sum(uses)::bigint as uses
        from my_emoji_monthly
        where {on_platforms} and {in_months}
        group by emoji
        order by uses desc, emoji
        limit 15
        """,
        engine=con,
        output=False,
    )
    return top_emoji, top_words


@app.cell
def _(alt, mo, top_emoji, top_words):
    def _bars(data, field):
        return (
            alt.Chart(data)
            .mark_bar()
            .encode(x="uses:Q", y=alt.Y(f"{field}:N", sort="-x", title=None), tooltip=[field, "uses"])
            .properties(width=280, height=360)
        )

    mo.vstack(
        [
            mo.md("## Your words and emoji\nWhat you use most (placeholders such as [URL] are not words)."),
            alt.hconcat(_bars(top_words, "word"), _bars(top_emoji, "emoji")),
        ]
    )
    return


@app.cell
def _(con, in_dates, mo, on_platforms):
    partners = mo.sql(
        f"""
        with volume as (
            select partner_id as partner, platform,
                   count(*) filter (where turn_role = 'assistant') as mine,
                   count(*) filter (where turn_role = 'user') as theirs
            from messages
            where partner_id is not null and {on_platforms} and {in_dates}
            group by all
            order by mine + theirs desc
            limit 15
        )
        unpivot volume on mine, theirs into name side value messages
        """,
        engine=con,
        output=False,
    )
    return (partners,)


@app.cell
def _(alt, mo, partners):
    mo.vstack(
        [
            mo.md("## Who you talk to\nMessages per conversation partner (pseudonyms; `G…` are groups)."),
            alt.Chart(partners)
            .mark_bar()
            .encode(
                x=alt.X("sum(messages):Q", title="messages"),
                y=alt.Y("partner:N", sort="-x", title=None),
                color=alt.Color("side:N", title=None),
                tooltip=["partner", "platform", "side", "messages"],
            )
            .properties(width=560, height=320),
        ]
    )
    return


@app.cell
def _(con, mo, on_platforms):
    filters = mo.sql(
        f"""
        select stage || ': ' || reason as rule, platform, n
        from filter_counts
        where {on_platforms}
        order by stage, n desc
        """,
        engine=con,
        output=False,
    )
    return (filters,)


@app.cell
def _(alt, filters, mo):
    mo.vstack(
        [
            mo.md("## What the pipeline removed, and why\nMessages per filter rule (all dates)."),
            alt.Chart(filters)
            .mark_bar()
            .encode(
                x=alt.X("sum(n):Q", title="messages", scale=alt.Scale(type="symlog")),
                y=alt.Y("rule:N", sort="-x", title=None),
                color="platform:N",
                tooltip=["rule", "platform", "n"],
            )
            .properties(width=520, height=alt.Step(18)),
        ]
    )
    return


if __name__ == "__main__":
    app.run()
