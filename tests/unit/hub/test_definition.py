"""Workflow definitions: seed 002's create-workflow JSON, the task DAG and its checks."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from baton_hub.dag import find_cycle, topological_order
from baton_hub.definition import WorkflowDefinition

# The two create-workflow requests of seed 002 ("Multi-Workflow Coordination"), verbatim.
FEATURE_DEV_001: dict[str, Any] = {
    "workflow_id": "feature_dev_001",
    "name": "User Authentication Feature",
    "priority": "high",
    "phases": ["research", "planning", "implementation", "testing"],
    "resource_requirements": {"agents": 3, "memory": "2GB", "duration": "4h"},
    "dependencies": ["database_migration", "security_review"],
}
BUG_FIX_002: dict[str, Any] = {
    "workflow_id": "bug_fix_002",
    "name": "Login Performance Issue",
    "priority": "medium",
    "phases": ["investigation", "fix", "testing"],
    "resource_requirements": {"agents": 2, "memory": "1GB", "duration": "2h"},
    "dependencies": ["user_reports", "performance_data"],
}


def error_text(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        WorkflowDefinition.model_validate(data)
    return str(caught.value)


def test_seed_002_feature_workflow_validates() -> None:
    definition = WorkflowDefinition.model_validate(FEATURE_DEV_001)
    assert definition.priority == "high"
    assert definition.phases == ["research", "planning", "implementation", "testing"]
    # A phase without explicit tasks gets one task named after it, role = phase name.
    assert [(t.task_id, t.phase, t.role) for t in definition.tasks] == [
        (p, p, p) for p in definition.phases
    ]
    assert [d.name for d in definition.external_dependencies] == [
        "database_migration",
        "security_review",
    ]
    assert definition.block_on_dependencies is False
    assert definition.to_allocation_request_fields() == {
        "agents": 3,
        "memory_gb": 2.0,
        "cpu_cores": 0,
        "duration_hours": 4.0,
        "exclusive_files": [],
        "tool_instances": {},
        "priority": "high",
    }


def test_seed_002_bug_fix_workflow_validates() -> None:
    definition = WorkflowDefinition.model_validate(BUG_FIX_002)
    assert definition.resource_requirements.memory_gb == 1.0
    assert definition.resource_requirements.duration_hours == 2.0
    assert len(definition.tasks) == 3


def test_definition_round_trips_unchanged() -> None:
    definition = WorkflowDefinition.model_validate(FEATURE_DEV_001)
    again = WorkflowDefinition.model_validate(definition.model_dump(mode="json"))
    assert again == definition


@pytest.mark.parametrize(
    ("memory", "expected"),
    [("2GB", 2.0), ("512MB", 0.5), ("1.5 GiB", 1.5), ("1TB", 1024.0), ("4g", 4.0), (3, 3.0)],
)
def test_memory_sizes(memory: str | int, expected: float) -> None:
    definition = WorkflowDefinition.model_validate(
        {"workflow_id": "w", "resource_requirements": {"memory": memory}}
    )
    assert definition.resource_requirements.memory_gb == pytest.approx(expected)


def test_resource_fields_of_the_allocation_request_are_accepted() -> None:
    definition = WorkflowDefinition.model_validate(
        {
            "workflow_id": "w",
            "resource_requirements": {
                "agents": 5,
                "memory_gb": 12,
                "cpu_cores": 4,
                "duration": "2h 30m",
                "exclusive_files": ["config.nix"],
                "tool_instances": {"bash": 3},
            },
        }
    )
    fields = definition.to_allocation_request_fields()
    assert fields["duration_hours"] == 2.5
    assert fields["exclusive_files"] == ["config.nix"]
    assert fields["tool_instances"] == {"bash": 3}


@pytest.mark.parametrize(
    ("requirements", "named"),
    [
        ({"memory": "lots"}, "memory size"),
        ({"memory": "2GB", "memory_gb": 2}, "memory or memory_gb"),
        ({"duration": "4 hours"}, "duration"),
        ({"duration": 4}, "duration"),
        ({"agents": 0}, "agents"),
    ],
)
def test_bad_resources_are_named(requirements: dict[str, Any], named: str) -> None:
    text = error_text({"workflow_id": "w", "resource_requirements": requirements})
    assert "resource_requirements" in text
    assert named in text


def test_bad_priority_and_unknown_field_are_named() -> None:
    assert "priority" in error_text({"workflow_id": "w", "priority": "urgent"})
    assert "colour" in error_text({"workflow_id": "w", "colour": "red"})


def test_task_defaults_phase_and_role() -> None:
    definition = WorkflowDefinition.model_validate(
        {
            "workflow_id": "w",
            "phases": ["build", "ship"],
            "tasks": [
                {"task_id": "compile"},
                {"task_id": "deploy", "phase": "ship", "role": "ops"},
            ],
        }
    )
    compile_, deploy = definition.tasks
    assert (compile_.phase, compile_.role) == ("build", "build")
    assert (deploy.phase, deploy.role) == ("ship", "ops")


def test_phases_are_derived_from_tasks_when_absent() -> None:
    definition = WorkflowDefinition.model_validate(
        {
            "workflow_id": "w",
            "tasks": [{"task_id": "a", "phase": "one"}, {"task_id": "b", "phase": "two"}],
        }
    )
    assert definition.phases == ["one", "two"]
    lone = WorkflowDefinition.model_validate({"workflow_id": "w", "tasks": [{"task_id": "a"}]})
    assert lone.phases == ["main"]


def test_seed_003_dependency_form_is_accepted() -> None:
    definition = WorkflowDefinition.model_validate(
        {
            "workflow_id": "w",
            "tasks": [
                {"task_id": "model_gen"},
                {
                    "task_id": "deploy",
                    "dependencies": [
                        {
                            "dependency_id": "coverage_gate",
                            "type": "quality_gate",
                            "target": "model_gen",
                            "timeout": 60,
                            "metadata": {"gate_id": "coverage_gate", "threshold": 0.8},
                        }
                    ],
                },
            ],
        }
    )
    dep = definition.tasks[1].dependencies[0]
    assert (dep.task_id, dep.min_score) == ("model_gen", 0.8)
    assert definition.wait_seconds(definition.tasks[1], dep) == 60


def test_duplicate_task_id_is_named() -> None:
    text = error_text({"workflow_id": "w", "tasks": [{"task_id": "a"}, {"task_id": "a"}]})
    assert "tasks[1].task_id" in text
    assert "duplicate task id 'a'" in text


def test_unknown_dependency_is_named() -> None:
    text = error_text({"workflow_id": "w", "tasks": [{"task_id": "a", "dependencies": ["ghost"]}]})
    assert "tasks[0].dependencies: unknown dependency 'ghost'" in text
    assert "(task 'a')" in text


def test_cycle_is_named() -> None:
    text = error_text(
        {
            "workflow_id": "w",
            "tasks": [
                {"task_id": "a", "dependencies": ["c"]},
                {"task_id": "b", "dependencies": ["a"]},
                {"task_id": "c", "dependencies": ["b"]},
            ],
        }
    )
    assert "dependency cycle a -> c -> b -> a" in text


def test_self_dependency_is_a_cycle() -> None:
    text = error_text({"workflow_id": "w", "tasks": [{"task_id": "a", "dependencies": ["a"]}]})
    assert "dependency cycle a -> a" in text


def test_dependency_on_a_later_phase_is_refused() -> None:
    text = error_text(
        {
            "workflow_id": "w",
            "phases": ["one", "two"],
            "tasks": [
                {"task_id": "a", "phase": "one", "dependencies": ["b"]},
                {"task_id": "b", "phase": "two"},
            ],
        }
    )
    assert "'b' belongs to the later phase 'two'" in text


def test_unknown_phase_and_generated_task_collision_are_named() -> None:
    assert "tasks[0].phase: unknown phase 'x'" in error_text(
        {"workflow_id": "w", "phases": ["one"], "tasks": [{"task_id": "a", "phase": "x"}]}
    )
    assert "collides" in error_text(
        {
            "workflow_id": "w",
            "phases": ["one", "two"],
            "tasks": [{"task_id": "two", "phase": "one"}],
        }
    )


def test_external_dependency_may_be_a_task_dependency() -> None:
    definition = WorkflowDefinition.model_validate(
        {
            "workflow_id": "w",
            "dependencies": ["database_migration"],
            "tasks": [{"task_id": "migrate", "dependencies": ["database_migration"]}],
        }
    )
    assert definition.tasks[0].dependency_ids() == ["database_migration"]
    assert "also a task id" in error_text(
        {"workflow_id": "w", "dependencies": ["a"], "tasks": [{"task_id": "a"}]}
    )


def test_rules_accept_seed_decisions_and_refuse_unknown_operators() -> None:
    rule = {
        "rule_id": "error_retry",
        "name": "Retry on Error",
        "condition_key": "error_count",
        "condition_operator": "<=",
        "condition_value": 3,
        "decision": "RETRY",
        "priority": 100,
    }
    definition = WorkflowDefinition.model_validate({"workflow_id": "w", "rules": [rule]})
    assert definition.rules[0].decision == "retry"
    text = error_text({"workflow_id": "w", "rules": [{**rule, "condition_operator": "=~"}]})
    assert "rules.0.condition_operator" in text


def test_dag_helpers() -> None:
    graph = {"schema": ["p1", "p2"], "p1": [], "p2": ["external"]}
    assert find_cycle(graph) is None
    assert topological_order(graph) == ["p1", "p2", "schema"]
    with pytest.raises(ValueError, match="x -> y -> x"):
        topological_order({"x": ["y"], "y": ["x"]})
    chain = {f"t{i}": [f"t{i + 1}"] for i in range(5000)}
    assert find_cycle(chain) is None
