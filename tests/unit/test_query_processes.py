"""Which core each serving process of a query replica gets (services/query/processes.py)."""

from __future__ import annotations

from services.query.processes import own_cores


def test_serving_processes_take_a_core_each_only_from_a_cpuset_of_exactly_that_many() -> None:
    assert own_cores(2, {3, 1}) == [{1}, {3}]
    assert own_cores(2, {0, 1, 2, 3}) == [None, None]  # a shared pool: pinning would stack replicas
    assert own_cores(1, {5}) == [{5}]
