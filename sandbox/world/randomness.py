"""Deterministic randomness for the synthetic world: the same key always gives the same draws.

Every random quantity in the world is drawn from a generator seeded by a stable hash of what it
describes (tenant, source, entity, day), never from shared state, so day d of a tenant is the
same whichever range is requested, in whatever order, by whichever process.
"""

from __future__ import annotations

import hashlib

import numpy as np


def stable_hash(*parts: object) -> int:
    """A 64-bit integer that depends only on `parts` (not on the process or Python's hash seed)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rng_for(*parts: object) -> np.random.Generator:
    """A random generator whose whole stream is fixed by `parts`."""
    return np.random.Generator(np.random.PCG64(stable_hash(*parts)))


def stable_fraction(*parts: object) -> float:
    """A number in [0, 1) fixed by `parts`."""
    return stable_hash(*parts) / 2**64


def stable_digits(length: int, *parts: object) -> str:
    """A decimal id of exactly `length` digits (no leading zero) fixed by `parts`."""
    low = 10 ** (length - 1)
    return str(low + stable_hash(*parts) % (9 * low))


_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62(number: int, width: int) -> str:
    """`number` in base 62, left-padded with '0' to `width` characters."""
    if number < 0:
        raise ValueError("base62 encodes non-negative numbers only")
    out = []
    while number:
        number, remainder = divmod(number, 62)
        out.append(_ALPHABET[remainder])
    text = "".join(reversed(out)) or "0"
    if len(text) > width:
        raise ValueError(f"{number} does not fit in {width} base62 characters")
    return text.rjust(width, "0")


def from_base62(text: str) -> int:
    """Inverse of `base62`; raises ValueError on characters outside the alphabet."""
    number = 0
    for char in text:
        index = _ALPHABET.find(char)
        if index < 0:
            raise ValueError(f"not base62: {text!r}")
        number = number * 62 + index
    return number


def stable_token(length: int, *parts: object) -> str:
    """An opaque alphanumeric string of `length` characters fixed by `parts`."""
    seed = stable_hash(*parts)
    generator = np.random.Generator(np.random.PCG64(seed))
    indices = generator.integers(0, 62, size=length)
    return "".join(_ALPHABET[i] for i in indices)
