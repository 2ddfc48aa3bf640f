-- My 1000 most used words over every platform.
select
    row_number() over (order by sum(uses) desc, word) as rank,
    word,
    sum(uses) as uses
from {{ ref('int_my_words') }}
group by word
qualify rank <= 1000
