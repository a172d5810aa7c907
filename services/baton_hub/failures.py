"""What happens when a task fails: the workflow's routing rules decide.

The rule context is the task's (:func:`baton_hub.scheduling.task_context`) with
``failure_type`` and ``failure_reason`` of this failure; the first matching rule by priority
decides:

- ``retry``: the task goes back to ``ready`` (a dependency wait starts over instead), and is
  assigned again, preferring another agent, with a new fencing token; allowed while the
  task's failures are fewer than the rule's ``max_attempts`` (default: the task's
  ``max_retries`` + 1), after which the task and the workflow fail.
- ``parallelize``: a retry that may also share an agent that is busy.
- ``skip``: the task is skipped and its dependants go on without it.
- ``fail``: the task and the workflow fail.
- ``escalate``: ``ESCALATION_REQUIRED`` and the workflow pauses; the task stays failed
  until ``resume``, which gives it another attempt (a person decided), or ``cancel``.

No matching rule: the task and the workflow fail, the reason saying no rule matched. A
workflow without rules therefore fails on its first task failure, as a workflow engine
without a retry policy does — unless the workflow delegates failures to workflow-recovery
(``delegate_failures``, see :mod:`baton_hub.recovery`): then the task stays ``failed`` and
``RECOVERY_REQUESTED`` asks the recovery service to decide.

A dependency timeout (``failure_type`` ``dependency_timeout``; the context also names the
``dependency`` and its ``dependency_kind``) is never delegated: recovery's answers (retry,
reassign to another agent) are about agents, and no agent can satisfy a dependency. Its
decisions: ``retry`` waits longer (a new wait of the task's timeout, up to the attempts
allowed), ``skip`` skips the task without running it, ``escalate`` pauses the workflow (on
``resume`` the task waits again), ``fail`` or no rule fails the task and the workflow with
a reason naming the dependency. A task is only ever retried into ``ready`` when nothing
blocks it (:func:`baton_hub.dependencies.reopen`).
"""

from __future__ import annotations

from typing import Any

from baton_hub.dependencies import reopen
from baton_hub.lifecycle import fail_workflow, pause_workflow
from baton_hub.rules import evaluate_rules
from baton_hub.scheduling import task_context
from baton_hub.state import TaskState
from baton_hub.transition import Transition

__all__ = ["handle_failure", "requeue"]


def handle_failure(
    tx: Transition,
    task: TaskState,
    *,
    failure_type: str,
    reason: str,
    event_type: str,
    data: dict[str, Any],
    dependency: str | None = None,
) -> None:
    """Record a failure of ``task``, announce it, and apply the routing decision.

    Args:
        tx: The transition under way.
        task: The failed task (in ``tx.state``).
        failure_type: ``error``, ``execution_timeout``, ``dependency_timeout`` or
            ``quality_gate``.
        reason: Why it failed.
        event_type: Event announcing the failure (``TASK_FAILED``, ``TASK_TIMEOUT``...).
        data: Its data; the decision, rule and error count are added.
        dependency: For a dependency timeout, the dependency waited for.
    """
    st = tx.state
    task.error_count += 1
    task.failure_reason = reason
    context = {**task_context(st, task), "failure_type": failure_type, "failure_reason": reason}
    if dependency is not None:
        context["dependency"] = dependency
        context["dependency_kind"] = data.get("kind")
    rule = evaluate_rules(st.definition.rules, context=context)
    decision = rule.decision if rule else "fail"
    rule_id = rule.rule_id if rule else None
    spec = st.spec(task.task_id)
    limit = (rule.max_attempts if rule else None) or spec.max_retries + 1
    exhausted = decision in {"retry", "parallelize"} and task.error_count >= limit
    tx.emit(
        event_type,
        {
            **data,
            "decision": "fail" if exhausted else decision,
            "rule_id": rule_id,
            "error_count": task.error_count,
            "failure_type": failure_type,
        },
    )
    prefix = f"task {task.task_id!r} failed: {reason}"
    if rule is None and st.delegate_failures and failure_type != "dependency_timeout":
        _delegate(tx, task, failure_type=failure_type, reason=reason)
    elif rule is None:
        _fail(tx, task, f"{prefix} (no routing rule matched)")
    elif exhausted:
        _fail(tx, task, f"{prefix}; retry limit reached after {task.error_count} attempts")
    elif decision in {"retry", "parallelize"}:
        requeue(tx, task, failure_type=failure_type, share=decision == "parallelize")
    elif decision == "skip":
        task.status = "skipped"
        tx.emit("TASK_SKIPPED", {"task_id": task.task_id, "reason": reason, "rule_id": rule_id})
    elif decision == "escalate":
        task.status = "failed"
        task.escalated = True
        tx.emit(
            "ESCALATION_REQUIRED",
            {"task_id": task.task_id, "rule_id": rule_id, "reason": reason, "context": context},
        )
        if st.status == "STARTED":
            pause_workflow(tx, f"escalation: {prefix}")
    else:
        _fail(tx, task, f"{prefix} (rule {rule_id} decided fail)")


def _delegate(tx: Transition, task: TaskState, *, failure_type: str, reason: str) -> None:
    task.status = "failed"
    tx.emit(
        "RECOVERY_REQUESTED",
        {
            "task_id": task.task_id,
            "agent_id": task.agent_id,
            "failure_type": failure_type,
            "failure_reason": reason,
            "error_count": task.error_count,
            "attempts": task.attempts,
            "fencing_token": task.fencing_token,
        },
    )


def _fail(tx: Transition, task: TaskState, reason: str) -> None:
    task.status = "failed"
    fail_workflow(tx, reason, task_id=task.task_id)


def requeue(tx: Transition, task: TaskState, *, failure_type: str, share: bool) -> None:
    """Give a failed task another attempt: ``ready`` again — or, while a dependency is not
    satisfied, waiting for it again (:func:`~baton_hub.dependencies.reopen`) — its agent
    remembered as the one to prefer not to use next."""
    task.share_agent = share
    if failure_type == "dependency_timeout":
        task.status = "pending"
        task.waiting_since = tx.now
        return
    if task.agent_id is not None:
        task.previous_agent = task.agent_id
    task.agent_id = None
    task.results = None
    task.quality_score = None
    reopen(tx.state, task, now=tx.now)
