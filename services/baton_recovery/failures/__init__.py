"""Failures: what went wrong, what it affects, and what recovery does about it.

Classification, impact and ranked suggestions assembled into error reports
(:mod:`~baton_recovery.failures.classify`, :mod:`~baton_recovery.failures.impact`,
:mod:`~baton_recovery.failures.suggestions`, :mod:`~baton_recovery.failures.report`), retry
backoff, per-agent circuit breakers, liveness and what a replica owns
(:mod:`~baton.backoff`, :mod:`~baton_recovery.failures.breaker`,
:mod:`~baton_recovery.failures.liveness`, :mod:`~baton_recovery.failures.ownership`), the
decision (:mod:`~baton_recovery.failures.plan`), and the parts that act: the watchdog
(:mod:`~baton_recovery.failures.watchdog`, :mod:`~baton_recovery.failures.watchlist`) and the
recovery actions sent to the hub (:mod:`~baton_recovery.failures.actions`). The domain
modules do no I/O: the current time and any randomness are passed in.
"""
