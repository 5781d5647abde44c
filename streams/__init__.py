"""The stream stage: a Faust worker that validates, dedupes and enriches contact events.

Run it with ``python -m streams``; the per-event logic is in :mod:`streams.logic`.
"""
