"""Performance monitor: windowed metrics, thresholds, component health.

The modules here are pure domain logic: no I/O, the current time always passed in, and all
state in pydantic models that round-trip through JSON.

- :mod:`~baton_monitor.samples`: bounded value samples and exact percentiles.
- :mod:`~baton_monitor.digest`: mergeable value digests (exact when small, a sketch beyond).
- :mod:`~baton_monitor.windows`: tumbling and hopping windows, the panes they are made of.
- :mod:`~baton_monitor.state`: the metric state (configuration, panes, workflows).
- :mod:`~baton_monitor.metrics`: metrics derived from events, reports, threshold inputs
  (JSON views in :mod:`~baton_monitor.views`).
- :mod:`~baton_monitor.rules`: threshold rules, their JSON configuration and defaults.
- :mod:`~baton_monitor.thresholds`: rules evaluated with hysteresis and cooldown → alerts.
- :mod:`~baton_monitor.registry`: the component registry fed by presence events.
- :mod:`~baton_monitor.health`: component health from heartbeats, and its snapshot.
- :mod:`~baton_monitor.saturation`: whether the system is saturated, and why.
- :mod:`~baton_monitor.streamviews`: the faust windows' figures per partition, summed.

With several replicas, what each counts is kept per partition in PostgreSQL
(:mod:`~baton_monitor.panes`, :mod:`~baton_monitor.store`) and one replica at a time
evaluates (:mod:`~baton_monitor.evaluation`); see services/README.md.
"""

__all__: list[str] = []
