-- A warning, not a failure: with fewer of your replies than min_train_examples in the train split,
-- a model can hardly learn your style. The pipeline still runs, so a small export can be tried.
{{ config(severity='warn') }}
select count(*) as train_examples
from {{ ref('training_examples') }}
where split = 'train'
having count(*) < {{ var('min_train_examples') | int }}
