"""Pools: configuration from JSON with errors naming the field, and amount arithmetic."""

from __future__ import annotations

import pytest

from baton.errors import ConfigError
from baton.protocol.messages import ResourceRequest
from baton_resource.pools import Amounts, ResourcePools, total

EXAMPLE = (
    '{"agents":4,"memory_gb":16,"cpu_cores":8,'
    '"tool_instances":{"bash":4,"file_ops":8,"search":4,"web":2}}'
)


def test_from_json_reads_the_documented_example() -> None:
    pools = ResourcePools.from_json(EXAMPLE)
    assert pools.agents == 4
    assert pools.memory_gb == 16
    assert pools.cpu_cores == 8
    assert pools.tool_instances == {"bash": 4, "file_ops": 8, "search": 4, "web": 2}


def test_fields_left_out_keep_their_defaults() -> None:
    pools = ResourcePools.from_json('{"agents": 10}')
    assert pools.agents == 10
    assert pools.memory_gb == ResourcePools().memory_gb


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"agents": -1}', "agents"),
        ('{"agent": 4}', "agent"),
        ('{"memory_gb": "lots"}', "memory_gb"),
        ('{"cpu_cores": Infinity}', "cpu_cores"),
        ('{"tool_instances": {"bash": -2}}', "tool_instances.bash"),
        ('{"tool_instances": {"b a s h": 2}}', "tool_instances.b a s h"),
        ("agents=4", "value"),
        ("[4]", "value"),
    ],
)
def test_from_json_errors_name_the_field(text: str, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ResourcePools.from_json(text)
    assert caught.value.fields["variable"] == "BATON_RESOURCE_POOLS"
    assert caught.value.fields["field"].startswith(field)
    assert str(caught.value).startswith(f"BATON_RESOURCE_POOLS: {field}")


def test_from_json_names_the_source_it_is_given() -> None:
    with pytest.raises(ConfigError, match=r"^pools\.json: agents"):
        ResourcePools.from_json('{"agents": 1.5}', source="pools.json")


def test_usage_reports_capacity_used_free_and_utilisation() -> None:
    pools = ResourcePools.from_json(EXAMPLE)
    used = Amounts(agents=3, memory_gb=0.1 + 0.2, cpu_cores=8, tool_instances={"web": 1})
    usage = pools.usage(used=used)
    assert usage["agents"] == {"capacity": 4, "used": 3, "free": 1, "utilisation": 75.0}
    assert usage["memory_gb"]["used"] == 0.3
    assert usage["cpu_cores"]["free"] == 0
    assert usage["cpu_cores"]["utilisation"] == 100.0
    assert usage["tool_instances.web"]["utilisation"] == 50.0
    assert usage["tool_instances.bash"]["used"] == 0
    assert pools.free(used=used).agents == 1


def test_a_tool_that_is_not_configured_has_no_capacity() -> None:
    pools = ResourcePools(tool_instances={"bash": 1})
    need = Amounts(tool_instances={"gpu": 1})
    assert not need.fits(pools.capacity)
    assert need.shortfalls(pools.capacity) == ["tool_instances.gpu: needs 1, has 0"]


def test_amounts_add_subtract_and_compare_with_rounding_slack() -> None:
    a = Amounts(agents=1, memory_gb=0.1, cpu_cores=0.5, tool_instances={"bash": 1})
    b = Amounts(agents=2, memory_gb=0.2, tool_instances={"web": 1})
    both = a.plus(b)
    assert both.agents == 3
    assert both.tool_instances == {"bash": 1, "web": 1}
    # 0.1 + 0.2 is 0.30000000000000004 in floats; it still fits in 0.3.
    assert both.fits(
        Amounts(agents=3, memory_gb=0.3, cpu_cores=0.5, tool_instances={"bash": 1, "web": 1})
    )
    assert both.minus(Amounts(agents=5, memory_gb=1)) == Amounts(
        agents=0, memory_gb=0.0, cpu_cores=0.5, tool_instances={"bash": 1, "web": 1}
    )
    assert total([a, b, a]).agents == 4
    assert total([]) == Amounts()


def test_amounts_of_a_request_ignore_zero_tool_counts() -> None:
    request = ResourceRequest(agents=2, memory_gb=4, tool_instances={"bash": 2, "web": 0})
    assert Amounts.of(request) == Amounts(agents=2, memory_gb=4, tool_instances={"bash": 2})
    assert Amounts.of(request).flat() == {
        "agents": 2,
        "memory_gb": 4,
        "cpu_cores": 0,
        "tool_instances.bash": 2,
    }
