"""A mutator for fuzzing the readers: raw damage to a file's bytes, or damage inside one unpacked part
of a zip-based one, so that the parsers, not the zip checks, see it."""

from __future__ import annotations

import random
import re

from reliability.seeds import ZIP_KINDS, members, rezip

_NUMBER = re.compile(rb'="(\d{1,9})"')


def mutate(data: bytes, kind: str, rng: random.Random, steps: int = 3) -> bytes:
    """`data` changed a few times: raw bytes (truncation, bit flips, spliced or repeated spans), or for
    a zip kind inside one unpacked part (so that the parsers, not the zip checks, see the damage)."""
    if kind in ZIP_KINDS and rng.random() < 0.6:
        try:
            parts = members(data)
        except Exception:
            parts = {}
        if parts:
            name = rng.choice(sorted(parts))
            for _ in range(steps):
                parts[name] = (
                    _mutate_xml(parts[name], rng) if rng.random() < 0.5 else _mutate_raw(parts[name], rng)
                )
            return rezip(parts)
    for _ in range(steps):
        data = _mutate_raw(data, rng)
    return data


def _mutate_raw(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    op = rng.randrange(6)
    at = rng.randrange(len(data))
    if op == 0:
        return data[:at]
    if op == 1:
        out = bytearray(data)
        for _ in range(rng.randrange(1, 9)):
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
        return bytes(out)
    if op == 2:
        span = data[at : at + rng.randrange(1, 512)]
        return data[:at] + span * rng.randrange(2, 40) + data[at:]
    if op == 3:
        return data[:at] + data[at + rng.randrange(1, 256) :]
    if op == 4:  # a 16- or 32-bit field made extreme (BIFF record fields, zip header fields)
        out = bytearray(data)
        width = rng.choice((2, 4))
        if at + width <= len(out):
            out[at : at + width] = rng.choice(
                (b"\xff" * width, b"\x00" * width, b"\x7f" + b"\xff" * (width - 1))
            )
        return bytes(out)
    return data[:at] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 32))) + data[at:]


def _mutate_xml(xml: bytes, rng: random.Random) -> bytes:
    numbers = list(_NUMBER.finditer(xml))
    op = rng.randrange(4)
    if op == 0 and numbers:  # an attribute number (r, count, repeats, spans) made huge, zero or negative
        m = rng.choice(numbers)
        value = rng.choice(
            (b"0", b"-1", b"1048576", b"16384", b"99999999", b"4294967295", b"18446744073709551616")
        )
        return xml[: m.start(1)] + value + xml[m.end(1) :]
    if op == 1:  # a cell reference moved far away
        return re.sub(
            rb'r="([A-Z]+)(\d+)"',
            lambda m: rng.choice((b'r="XFD1048576"', b'r="A0"', b'r="ZZZZ1"', m.group(0))),
            xml,
            count=rng.randrange(1, 4),
        )
    if op == 2:  # an element duplicated many times
        tags = [m.start() for m in re.finditer(rb"<[A-Za-z]", xml)]
        if tags:
            start = rng.choice(tags)
            end = xml.find(b">", start) + 1
            return xml[:end] + xml[start:end] * rng.randrange(2, 2000) + xml[end:]
    return _mutate_raw(xml, rng)
