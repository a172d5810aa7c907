"""workflow-status + progress-aggregator: the read model of every workflow, its API,
progress aggregation (critical path, completion estimates learned from history,
bottlenecks), a live stream and a dashboard."""
