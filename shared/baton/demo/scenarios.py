"""The demo's three real-workflow scenarios, as workflow definitions the hub runs.

1. **Multi-workflow coordination**: ``feature_dev_001`` (high, 3 agents) and
   ``bug_fix_002`` (medium, 2 agents) on a pool of 4 agents — the feature is scheduled at
   once, the bug fix is queued with a position and an estimated start, then runs when the
   feature's agents are released.
2. **Complete feature development**: ``impl_auth_001`` — research (three reports in
   parallel), planning, implementation in three parallel tracks (backend, frontend,
   database), testing that waits for all three, finalization.
3. **Error handling and recovery**: ``microservices_migration_001`` — its database
   migration keeps failing with ``connection_timeout``; workflow-recovery reports the error
   (classification, impact, suggestions), retries with backoff, then gives up; the demo
   analyses the failure, restores the checkpoint taken after the analysis phase (hash
   verified, completed work kept) and the migration, taken up again, succeeds.

Workflow ids carry a short run tag (``feature_dev_001_r5k2``) so the demo can run again on
the same database; ``workflow_type`` stays the scenario's (``feature_dev``) so durations learnt
by the status service add up across runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["SCENARIOS", "Scenario", "Workflow", "failing_task"]


@dataclass(frozen=True, slots=True)
class Workflow:
    """One workflow of a scenario: its id (before the run's tag), type and definition."""

    base_id: str
    workflow_type: str
    definition: dict[str, Any]

    def workflow_id(self, tag: str) -> str:
        return f"{self.base_id}_{tag}"

    def to_definition(self, tag: str) -> dict[str, Any]:
        return {
            "workflow_id": self.workflow_id(tag),
            "workflow_type": self.workflow_type,
            **self.definition,
        }


@dataclass(frozen=True, slots=True)
class Scenario:
    """A titled group of workflows created together; ``expect`` is each one's end status."""

    key: str
    title: str
    workflows: tuple[Workflow, ...]
    expect: dict[str, str] = field(default_factory=dict)


COORDINATION = Scenario(
    key="coordination",
    title="Multi-workflow coordination",
    workflows=(
        Workflow(
            base_id="feature_dev_001",
            workflow_type="feature_dev",
            definition={
                "name": "User Authentication Feature",
                "priority": "high",
                "phases": ["research", "planning", "implementation", "testing"],
                "resource_requirements": {"agents": 3, "memory": "2GB", "duration": "4h"},
                "dependencies": ["database_migration", "security_review"],
            },
        ),
        Workflow(
            base_id="bug_fix_002",
            workflow_type="bug_fix",
            definition={
                "name": "Login Performance Issue",
                "priority": "medium",
                "phases": ["investigation", "fix", "testing"],
                "resource_requirements": {"agents": 2, "memory": "1GB", "duration": "2h"},
                "dependencies": ["user_reports", "performance_data"],
            },
        ),
    ),
    expect={"feature_dev_001": "COMPLETED", "bug_fix_002": "COMPLETED"},
)

_TRACKS = ["backend_auth_service", "frontend_auth_components", "database_migrations"]

FEATURE = Scenario(
    key="feature",
    title="Complete feature development (parallel implementation tracks)",
    workflows=(
        Workflow(
            base_id="impl_auth_001",
            workflow_type="impl_auth",
            definition={
                "name": "JWT authentication",
                "priority": "high",
                "phases": ["research", "planning", "implementation", "testing", "finalization"],
                "resource_requirements": {"agents": 3, "memory": "2GB", "duration": "4h"},
                "tasks": [
                    {"task_id": "jwt_practices", "phase": "research", "role": "research"},
                    {"task_id": "auth_flow_patterns", "phase": "research", "role": "research"},
                    {"task_id": "current_auth_audit", "phase": "research", "role": "debug"},
                    {"task_id": "jwt_plan", "phase": "planning", "role": "planner"},
                    *(
                        {"task_id": track, "phase": "implementation", "role": "implement"}
                        for track in _TRACKS
                    ),
                    {
                        "task_id": "auth_tests",
                        "phase": "testing",
                        "role": "test",
                        "dependencies": _TRACKS,
                    },
                    {"task_id": "auth_docs", "phase": "finalization", "role": "document"},
                ],
            },
        ),
    ),
    expect={"impl_auth_001": "COMPLETED"},
)

RECOVERY = Scenario(
    key="recovery",
    title="Error handling and recovery (checkpoint restore)",
    workflows=(
        Workflow(
            base_id="microservices_migration_001",
            workflow_type="microservices_migration",
            definition={
                "name": "Microservices architecture migration",
                "priority": "high",
                "phases": ["analysis", "database_migration", "service_cutover"],
                "resource_requirements": {"agents": 2, "memory": "1GB", "duration": "3h"},
            },
        ),
    ),
    expect={"microservices_migration_001": "COMPLETED"},
)

SCENARIOS: tuple[Scenario, ...] = (COORDINATION, FEATURE, RECOVERY)


def failing_task(workflow_id: str, task_id: str) -> bool:
    """Whether the demo's agents fail this task while the migration is 'broken'."""
    return workflow_id.startswith("microservices_migration_001") and task_id == (
        "database_migration"
    )
