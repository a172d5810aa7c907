"""Coordination hub: the pure domain logic of workflows.

Definitions (:mod:`baton_hub.definition`), the workflow state machine
(:mod:`baton_hub.workflow`, with task reports in :mod:`baton_hub.tasks`), signals and shared
context (:mod:`baton_hub.signals`) and state synchronisation (:mod:`baton_hub.sync`). Nothing
here does I/O: every operation takes the current state and time and returns the new state
with the events to publish.
"""
