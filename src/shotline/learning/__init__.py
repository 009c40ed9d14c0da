"""Trainer learning core: pure logic (no Kafka/Redis/Milvus) for the active-learning loop.

Modules: ``labels`` (label names), ``classifier`` (trained / zero-shot / combined, the
selection policy, serialise),
``metrics`` (fast AP + bootstrap), ``scoring`` (streaming catalog scoring), ``feeds``,
``active`` (what each round serves), ``drift``.
"""
