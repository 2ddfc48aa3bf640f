{#- The column is unique inside each group of `within` (e.g. message_id per export_id). -#}
{% test unique_within(model, column_name, within) %}
select {{ within }}, {{ column_name }}, count(*) as occurrences
from {{ model }}
where {{ column_name }} is not null
group by {{ within }}, {{ column_name }}
having count(*) > 1
{% endtest %}
