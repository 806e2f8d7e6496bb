"""JSON as RFC 8259 defines it, for every record the job or its tools take from outside.

Python's ``json`` also reads ``NaN``, ``Infinity`` and ``-Infinity``, which are not JSON: other
readers of the same topic (Flink SQL's JSON format, kcat piped into jq) refuse such a record, so
taking it would make driverpay the one reader that pays what the others call malformed.
"""

from __future__ import annotations

from typing import NoReturn


def refuse_constant(name: str) -> NoReturn:
    """``parse_constant`` hook: the decoder calls it for ``NaN``, ``Infinity``, ``-Infinity``."""
    raise ValueError(f"{name} is not JSON (RFC 8259)")
