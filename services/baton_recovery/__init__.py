"""Workflow recovery: checkpoints of workflow state, and what to do when work fails.

The service's shape is at the top (:mod:`~baton_recovery.config` → :mod:`~baton_recovery.runner`
→ :mod:`~baton_recovery.handlers` → :mod:`~baton_recovery.store`); its two subjects are
subpackages:

- :mod:`baton_recovery.checkpoints`: canonical encoding, snapshots, diffs and byte deltas,
  chains of differential checkpoints, rebuilding a state from its chain, and writing them
  (bulk ``COPY``).
- :mod:`baton_recovery.failures`: classifying a failure, its impact and ranked suggestions
  assembled into error reports, retry backoff, per-agent circuit breakers, liveness and the
  watchdog, what a replica owns, the recovery decision and the actions that carry it out.
"""
