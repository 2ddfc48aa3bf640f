"""Memory: the user's own past exchanges (the message, then their reply) retrieved at reply time.

index.py builds and searches the BM25 index of the memory_exchanges mart (train split only);
prompt.py puts the retrieved exchanges into a prompt within a token budget.
"""
