"""Checkpoints: a workflow's state stored full or as deltas, and rebuilt with every hash checked.

Canonical encoding (:mod:`~baton_recovery.checkpoints.canonical`), snapshots, hashes and
compression (:mod:`~baton_recovery.checkpoints.snapshot`), diffs and byte deltas
(:mod:`~baton_recovery.checkpoints.delta`, :mod:`~baton_recovery.checkpoints.bytedelta`),
chains of differential checkpoints (:mod:`~baton_recovery.checkpoints.chain`), rebuilding a
state (:mod:`~baton_recovery.checkpoints.rebuild`), and writing a batch of checkpoints
(:mod:`~baton_recovery.checkpoints.writer`, :mod:`~baton_recovery.checkpoints.bulk`).
Only the writer and the bulk copy do I/O.
"""
