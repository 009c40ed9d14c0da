"""Video categories for ad-serving: text + visual models, merge, thresholds, serving, backfill.

Entry points: ``CategoryService`` (real time), ``python -m research.eval_categories``
(evaluation); served by the scorer (`services/scorer`), which also runs the catalog backfill.
"""
