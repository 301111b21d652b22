"""The built-in mutation engine: random, seeded, no coverage guidance, pure Python.

It is what CI runs (no native dependency) and what ``--engine mutate`` runs: each input is a
seed (or an input kept earlier because it was refused at a new place) with 1 to 4 stacked
mutations: bit flips, random or "interesting" bytes and integers, truncation, deleted,
duplicated, zeroed or inserted ranges, splices of two inputs, and the target's tokens (format
keywords, extreme numbers) inserted or put in place of a number. For coverage-guided fuzzing
use ``--engine atheris`` (libFuzzer).
"""
from __future__ import annotations

import random
import re
import struct
from collections.abc import Sequence

_INTERESTING_INTS = (0, 1, -1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000,
                     0xFFFFFFFF, 2**63 - 1, 2**64 - 1, 2**31, 10**9, 2**40)
_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _int_bytes(rng: random.Random) -> bytes:
    value = rng.choice(_INTERESTING_INTS)
    size = rng.choice((1, 2, 4, 8))
    fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}[size]
    value &= (1 << (8 * size)) - 1
    return struct.pack(("<" if rng.random() < 0.7 else ">") + fmt, value)


def mutate_once(data: bytearray, rng: random.Random, corpus: Sequence[bytes],
                tokens: Sequence[bytes]) -> bytearray:
    n = len(data)
    op = rng.randrange(13)
    if n == 0:
        return bytearray(rng.choice(tokens) if tokens else bytes([rng.randrange(256)]))
    pos = rng.randrange(n)
    if op == 0:  # flip bits
        for _ in range(rng.randint(1, 8)):
            k = rng.randrange(n)
            data[k] ^= 1 << rng.randrange(8)
    elif op == 1:  # random bytes
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(n)] = rng.randrange(256)
    elif op == 2:  # an interesting integer, overwritten in place
        chunk = _int_bytes(rng)
        data[pos:pos + len(chunk)] = chunk
    elif op == 3:  # truncate
        del data[rng.randrange(n):]
    elif op == 4:  # delete a range
        del data[pos:pos + rng.randint(1, max(1, min(n // 4, 256)))]
    elif op == 5:  # duplicate a range
        length = rng.randint(1, max(1, min(n - pos, 256)))
        data[pos:pos] = data[pos:pos + length]
    elif op == 6:  # zero a range
        length = rng.randint(1, max(1, min(n - pos, 4096)))
        data[pos:pos + length] = bytes(length)
    elif op == 7:  # insert random bytes
        data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif op == 8:  # splice with another input
        other = rng.choice(corpus) if corpus else bytes(data)
        cut = rng.randrange(len(other) + 1)
        data = data[:pos] + bytearray(other[cut:cut + rng.randint(1, max(1, len(other)))])
    elif op in (9, 10) and tokens:  # insert or overwrite with a token
        token = rng.choice(tokens)
        if op == 9:
            data[pos:pos] = token
        else:
            data[pos:pos + len(token)] = token
    elif op == 11 and tokens:  # a number of the text replaced by a token
        numbers = list(_NUMBER.finditer(bytes(data[max(0, pos - 2048):pos + 2048])))
        if numbers:
            m = rng.choice(numbers)
            base = max(0, pos - 2048)
            data[base + m.start():base + m.end()] = rng.choice(tokens)
    else:  # copy a range elsewhere
        length = rng.randint(1, max(1, min(n - pos, 512)))
        chunk = data[pos:pos + length]
        to = rng.randrange(n)
        data[to:to + length] = chunk
    return data


def mutate(data: bytes, rng: random.Random, corpus: Sequence[bytes],
           tokens: Sequence[bytes] = ()) -> bytes:
    """``data`` with 1-4 stacked random mutations."""
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        out = mutate_once(out, rng, corpus, tokens)
    return bytes(out)


def inputs(seeds: list[bytes], rng: random.Random, tokens: Sequence[bytes] = ()):
    """An endless stream: each seed once, then mutants of seeds and of kept inputs (the caller
    may append interesting inputs to ``seeds``)."""
    yield from list(seeds)
    while True:
        yield mutate(rng.choice(seeds), rng, seeds, tokens)
