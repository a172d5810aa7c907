"""Diffs between states: compute, apply, encode; apply(base, diff(base, new)) == new."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton_recovery.checkpoints.delta import (
    Change,
    apply_diff,
    decode_diff,
    diff,
    encode_diff,
    encoded_diff,
    patch,
    same_json,
)
from baton_recovery.checkpoints.snapshot import canonical_json
from baton_recovery.errors import CorruptCheckpointError
from tests.unit.recovery.support import json_objects


def test_diff_descends_into_dicts_and_replaces_lists_whole() -> None:
    base = {"tasks": {"t1": {"status": "running", "tags": [1, 2]}, "t2": {}}, "v": 1, "old": 0}
    new = {"tasks": {"t1": {"status": "completed", "tags": [1, 2, 3]}, "t2": {}}, "v": 1, "n": 2}
    assert diff(base, new) == [
        Change(("n",), "set", 2),
        Change(("old",), "delete"),
        Change(("tasks", "t1", "status"), "set", "completed"),
        Change(("tasks", "t1", "tags"), "set", [1, 2, 3]),
    ]


def test_equal_states_have_an_empty_diff() -> None:
    state = {"a": {"b": [1, {"c": None}]}}
    assert diff(state, {"a": {"b": [1, {"c": None}]}}) == []


def test_values_differ_as_json_does() -> None:
    assert diff({"x": 1}, {"x": 1.0}) == [Change(("x",), "set", 1.0)]
    assert diff({"x": 1}, {"x": True}) == [Change(("x",), "set", True)]
    assert diff({"x": 0.0}, {"x": -0.0}) == [Change(("x",), "set", -0.0)]
    assert diff({"x": [1]}, {"x": [True]}) == [Change(("x",), "set", [True])]
    assert same_json({"a": [1.5, "x"]}, {"a": [1.5, "x"]})
    assert not same_json({"a": 1}, {"a": 1, "b": 2})


def test_a_dict_replaced_by_a_scalar_and_back() -> None:
    assert diff({"a": {"b": 1}}, {"a": 5}) == [Change(("a",), "set", 5)]
    assert diff({"a": 5}, {"a": {"b": 1}}) == [Change(("a",), "set", {"b": 1})]


def test_apply_leaves_its_inputs_alone_and_shares_nothing() -> None:
    base = {"a": {"b": [1, 2]}, "c": {"d": 1}}
    value = {"deep": [1]}
    out = apply_diff(base, [Change(("a", "x"), "set", value)])
    out["a"]["b"].append(3)
    out["a"]["x"]["deep"].append(2)
    out["c"]["d"] = 2
    assert base == {"a": {"b": [1, 2]}, "c": {"d": 1}}
    assert value == {"deep": [1]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (Change(("missing", "x"), "set", 1), "no object at 'missing'"),
        (Change(("a", "b", "c"), "set", 1), "no object at 'a/b'"),
        (Change(("nothing",), "delete"), "nothing to delete"),
        (Change((), "set", 1), "non-empty path"),
    ],
)
def test_changes_that_do_not_fit_are_errors(change: Change, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        apply_diff({"a": {"b": 1}}, [change])


@given(json_objects, json_objects)
def test_apply_of_diff_gives_the_new_state(base: dict[str, Any], new: dict[str, Any]) -> None:
    changes = diff(base, new)
    out = apply_diff(base, changes)
    assert canonical_json(out) == canonical_json(new)
    assert same_json(out, new)
    # Encoding round-trips too (as a delta is stored).
    decoded = decode_diff(encode_diff(changes), checkpoint_id="c")
    assert same_json(apply_diff(base, decoded), new)


@given(json_objects)
def test_diff_against_itself_is_empty(state: dict[str, Any]) -> None:
    assert diff(state, state) == []


@given(
    st.dictionaries(
        st.sampled_from(["t1", "t2", "t3", "t4"]),
        st.fixed_dictionaries({"status": st.sampled_from(["pending", "running", "completed"])}),
    ),
    st.dictionaries(
        st.sampled_from(["t1", "t2", "t3", "t4"]),
        st.fixed_dictionaries({"status": st.sampled_from(["pending", "running", "completed"])}),
    ),
)
def test_task_maps_diff_by_field(a: dict[str, Any], b: dict[str, Any]) -> None:
    changes = diff({"tasks": a}, {"tasks": b})
    assert all(c.path[0] == "tasks" for c in changes)
    assert apply_diff({"tasks": a}, changes) == {"tasks": b}


def test_encoded_diff_is_json_ready() -> None:
    changes = [Change(("a",), "set", {"x": [1]}), Change(("b", "c"), "delete")]
    encoded = encode_diff(changes)
    assert encoded == [
        {"path": ["a"], "op": "set", "value": {"x": [1]}},
        {"path": ["b", "c"], "op": "delete"},
    ]
    assert decode_diff(encoded, checkpoint_id="c") == changes


@pytest.mark.parametrize(
    "data",
    [
        {"path": ["a"]},
        [{"path": [], "op": "set", "value": 1}],
        [{"path": "a", "op": "set", "value": 1}],
        [{"path": ["a", 1], "op": "set", "value": 1}],
        [{"path": ["a"], "op": "set"}],
        [{"path": ["a"], "op": "move"}],
        ["set a"],
    ],
)
def test_undecodable_diffs_are_corruption(data: Any) -> None:
    with pytest.raises(CorruptCheckpointError) as caught:
        decode_diff(data, checkpoint_id="ckpt_9")
    assert caught.value.checkpoint_id == "ckpt_9"
    assert not caught.value.retriable


@given(json_objects, json_objects)
def test_encoded_diff_is_the_encoding_of_the_diff(
    base: dict[str, Any], new: dict[str, Any]
) -> None:
    assert encoded_diff(base, new) == encode_diff(diff(base, new))


def test_a_loose_diff_misses_only_numbers_changing_type() -> None:
    base = {"a": {"n": 1, "z": 0.0, "s": "x"}, "b": [1]}
    new = {"a": {"n": 1.0, "z": -0.0, "s": "y"}, "b": [True]}
    assert encoded_diff(base, new, exact=False) == [{"path": ["a", "s"], "op": "set", "value": "y"}]
    assert [c["path"] for c in encoded_diff(base, new)] == [
        ["a", "n"],
        ["a", "s"],
        ["a", "z"],
        ["b"],
    ]


@given(json_objects, json_objects)
def test_patch_gives_the_new_state_and_leaves_the_base_alone(
    base: dict[str, Any], new: dict[str, Any]
) -> None:
    before = canonical_json(base)
    out = patch(base, encoded_diff(base, new))
    assert canonical_json(out) == canonical_json(new)
    assert canonical_json(base) == before


def test_patch_copies_only_the_changed_paths() -> None:
    base = {"tasks": {"t1": {"s": "a"}, "t2": {"s": "a"}}, "defs": {"x": [1]}}
    out = patch(
        base,
        [
            {"path": ["tasks", "t1", "s"], "op": "set", "value": "b"},
            {"path": ["tasks", "t1", "new"], "op": "set", "value": 1},
            {"path": ["tasks", "t2", "s"], "op": "delete"},
        ],
    )
    assert out == {"tasks": {"t1": {"s": "b", "new": 1}, "t2": {}}, "defs": {"x": [1]}}
    assert base == {"tasks": {"t1": {"s": "a"}, "t2": {"s": "a"}}, "defs": {"x": [1]}}
    assert out["defs"] is base["defs"]
    assert out["tasks"] is not base["tasks"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"path": ["missing", "x"], "op": "set", "value": 1}, "no object at 'missing'"),
        ({"path": ["a", "b", "c"], "op": "set", "value": 1}, "no object at 'a/b'"),
        ({"path": ["nothing"], "op": "delete"}, "nothing to delete"),
    ],
)
def test_patches_that_do_not_fit_are_errors(change: dict[str, Any], message: str) -> None:
    base = {"a": {"b": 1}}
    with pytest.raises(ValueError, match=message):
        patch(base, [change])
    assert base == {"a": {"b": 1}}
