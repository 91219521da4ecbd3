"""Test runs stay on their own ROS domain: one per run, and one per pytest-xdist worker."""

from __future__ import annotations

import os

import pytest
from conftest import xdist_worker_domain


def test_this_process_uses_a_local_domain_of_its_own() -> None:
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert 1 <= int(os.environ["ROS_DOMAIN_ID"]) <= 232  # Fast DDS's usable range


@pytest.mark.parametrize("base", [1, 37, 100, 232])
def test_xdist_workers_never_share_a_domain(base: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROS_DOMAIN_ID", str(base))
    domains = []
    for worker in range(8):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", f"gw{worker}")
        domains.append(xdist_worker_domain())
    assert domains[0] == base and len(set(domains)) == 8
    assert all(1 <= d <= 232 for d in domains)
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert xdist_worker_domain() is None  # without xdist: the run's own domain
