"""Resource manager: pools, allocations, priority queue and leases.

The modules here are pure domain logic: no I/O, the current time always passed in, and all
state in one :class:`~baton_resource.records.AllocatorState` that round-trips through JSON.
"""
