"""Unit tests of the pure pay engine: no Flink, no servers, no network.

Every test module defines its own named instants with ``ms("...")`` so each test reads alone.
"""
