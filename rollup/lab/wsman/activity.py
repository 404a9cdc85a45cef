"""
``p:ActivityId``: the event-tracing activity id some Windows hosts put in every answer's header.

The recorded ids (pypsrp's captures of a Server 2016 host, one session each) look like
``1A2F2108-D2BA-0000-CF14-301ABAD2D301``, ``1A2F2108-D2BA-0001-1902-301ABAD2D301``, ...:
what ETW's activity-id generator gives. The first 12 hex digits and the last 10 are fixed for
the host, the third group names the processor that made the id (``0000``, ``0001``), and the
fourth group plus the first byte of the fifth are that processor's counter, 24 bits, least
significant byte first (``CF14-30`` is 0x3014CF), which only grows. Ids are upper case and
carry no braces. Other hosts send no ``ActivityId`` at all (a 2008 R2 host, and another 2016
host, in the same captures): whether a host adds it is ``EndpointConfig.activity_id``.
"""

from __future__ import annotations

import random
import re

PROCESSORS = 2
"""The simulated hosts' processor count (``NUMBER_OF_PROCESSORS``)."""

ACTIVITY_ID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-000[0-9A-F]-[0-9A-F]{4}-[0-9A-F]{12}$")
"""The shape of an id (as recorded)."""


class ActivityIds:
    """A host's generator of activity ids (one per answer)."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()  # noqa: S311 - ids that look like Windows', not secrets
        self._base = f"{self._rng.getrandbits(32):08X}-{self._rng.getrandbits(16):04X}"
        self._tail = f"{self._rng.getrandbits(40):010X}"
        self._counters = [self._rng.randrange(0x100000, 0x800000) for _ in range(PROCESSORS)]

    def next(self) -> str:
        """A new id: the next value of one processor's counter (other activities take some)."""
        cpu = self._rng.randrange(PROCESSORS)
        self._counters[cpu] = (self._counters[cpu] + self._rng.randint(1, 24)) & 0xFFFFFF
        low, mid, high = self._counters[cpu].to_bytes(3, "little")
        return f"{self._base}-{cpu:04X}-{low:02X}{mid:02X}-{high:02X}{self._tail}"


def counter(activity_id: str) -> tuple[int, int]:
    """``(processor, counter)`` of an id: the parts that change from one answer to the next."""
    _, _, cpu, group4, group5 = activity_id.split("-")
    return int(cpu, 16), int.from_bytes(bytes.fromhex(group4 + group5[:2]), "little")
