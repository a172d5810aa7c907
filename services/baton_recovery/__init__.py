"""Workflow recovery: the pure domain logic of checkpoints and failure handling.

Canonical encoding (:mod:`~baton_recovery.canonical`), checkpoint snapshots, hashes and
compression (:mod:`~baton_recovery.snapshot`), diffs and chains of differential checkpoints
(:mod:`~baton_recovery.delta`, :mod:`~baton_recovery.chain`),
error classification, impact and ranked suggestions assembled into the protocol's error reports
(:mod:`~baton_recovery.classify`, :mod:`~baton_recovery.impact`,
:mod:`~baton_recovery.suggestions`, :mod:`~baton_recovery.report`), retry backoff, per-agent
circuit breakers, heartbeat liveness, what a replica owns, and the recovery decision with its
restore merge (:mod:`~baton_recovery.backoff`, :mod:`~baton_recovery.breaker`,
:mod:`~baton_recovery.liveness`, :mod:`~baton_recovery.ownership`, :mod:`~baton_recovery.plan`).
Nothing here does I/O: the current time and any randomness are always passed in.
"""
