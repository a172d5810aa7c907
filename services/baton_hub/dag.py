"""Directed acyclic graphs of task dependencies: cycle detection and topological order.

A graph maps each node to the nodes it depends on. Order is deterministic: ties are broken
by the order nodes appear in the mapping, so the same definition always schedules the same
way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["find_cycle", "topological_order"]


def find_cycle(graph: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A dependency cycle as a closed path (``["a", "b", "a"]``), or None when acyclic.

    Edges to nodes outside ``graph`` are ignored (they are external dependencies).
    """
    done: set[str] = set()
    for root in graph:
        if root in done:
            continue
        # Iterative depth-first search: long chains must not hit the recursion limit.
        path: list[str] = [root]
        on_path: set[str] = {root}
        pending: list[list[str]] = [[d for d in graph[root] if d in graph]]
        while path:
            children = pending[-1]
            if not children:
                node = path.pop()
                on_path.discard(node)
                done.add(node)
                pending.pop()
                continue
            child = children.pop(0)
            if child in on_path:
                return [*path[path.index(child) :], child]
            if child not in done:
                path.append(child)
                on_path.add(child)
                pending.append([d for d in graph[child] if d in graph])
    return None


def topological_order(graph: Mapping[str, Sequence[str]]) -> list[str]:
    """Nodes with every node after the nodes it depends on.

    Raises:
        ValueError: the graph has a cycle (named in the message).
    """
    cycle = find_cycle(graph)
    if cycle is not None:
        raise ValueError(f"dependency cycle {' -> '.join(cycle)}")
    placed: set[str] = set()
    order: list[str] = []
    remaining = list(graph)
    while remaining:
        ready = [n for n in remaining if all(d in placed or d not in graph for d in graph[n])]
        placed.update(ready)
        order.extend(ready)
        remaining = [n for n in remaining if n not in placed]
    return order
