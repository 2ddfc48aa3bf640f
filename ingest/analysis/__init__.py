"""Ad hoc analysis of the warehouse: `ai-me sql` (query.py, examples.sql) and the notebook (notebook.py)."""
