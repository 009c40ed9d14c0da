"""Video categories for ad-serving: text + visual models, merge, thresholds, serving, backfill.

Entry points: ``CategoryService`` (real time), ``python -m services.trainer.categories.evaluate``
(evaluation), ``python -m services.trainer.categories.backfill`` (whole-catalog re-classification).
"""
