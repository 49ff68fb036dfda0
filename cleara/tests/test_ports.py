"""The one free-port helper the tests, `bench/` and the chaos lab share (cleara.tests.outage)."""
from __future__ import annotations

import socket

import pytest

from cleara.tests.outage import free_port, port_range


def test_a_port_range_is_spelt_lo_hi_or_lo():
    assert port_range("8500-8520") == range(8500, 8521)
    assert port_range("8500") == range(8500, 8600)
    assert port_range("8500", width=10) == range(8500, 8510)
    assert port_range("") is None and port_range(None) is None


def test_a_free_port_skips_the_taken_and_the_busy_ones_in_its_range():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        low = busy.getsockname()[1]
        ports = range(low, low + 50)
        first = free_port(ports)
        assert first != low and first in ports  # the listening one is busy
        second = free_port(ports, taken={first})
        assert second not in (low, first) and second in ports


def test_no_free_port_left_says_which_range(monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"no free port left in {port}-{port}"):
            free_port(range(port, port + 1))
    monkeypatch.setenv("TEST_PORT_RANGE", f"{port}-{port}")
    assert free_port() == port  # the range from the environment when none is given, free again
