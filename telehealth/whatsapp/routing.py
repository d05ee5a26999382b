"""Which Rasa worker owns a user: rendezvous (highest-random-weight) hashing on the WhatsApp id.

Every message of one user goes to one worker, so the conversation's turns never race (Rasa's
open-source Redis lock store can let two replicas take the same conversation at once). With
rendezvous hashing, adding or removing a worker moves only the users of that worker.
"""
from __future__ import annotations

import hashlib
from typing import Sequence


def _weight(key: str, worker: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{worker}\x00{key}".encode("utf-8"), digest_size=8).digest(), "big")


def owner(key: str, workers: Sequence[str]) -> int:
    """The index in ``workers`` (stable names, e.g. "worker-0") of the worker that owns ``key``."""
    if not workers:
        raise ValueError("no workers")
    return max(range(len(workers)), key=lambda i: _weight(key, workers[i]))


def worker_names(count: int) -> list:
    return [f"worker-{i}" for i in range(count)]


def shard_of(key: str, count: int) -> int:
    """The index of the worker that owns ``key`` among ``count`` workers named worker-0..n-1."""
    return owner(key, worker_names(count))
