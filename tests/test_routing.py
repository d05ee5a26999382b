"""Which Rasa worker owns a user (telehealth/whatsapp/routing.py): stable, spread, minimal moves."""
from collections import Counter

from telehealth.whatsapp.routing import owner, shard_of, worker_names

USERS = [f"92300{i:07d}" for i in range(6000)]


def test_a_user_always_goes_to_the_same_worker():
    assert all(shard_of(u, 3) == shard_of(u, 3) for u in USERS[:200])


def test_users_are_spread_evenly():
    counts = Counter(shard_of(u, 3) for u in USERS)
    assert set(counts) == {0, 1, 2}
    assert all(0.28 < n / len(USERS) < 0.39 for n in counts.values()), counts


def test_adding_a_worker_moves_only_the_users_it_takes():
    before = {u: owner(u, worker_names(3)) for u in USERS}
    after = {u: owner(u, worker_names(4)) for u in USERS}
    moved = [u for u in USERS if before[u] != after[u]]
    assert all(after[u] == 3 for u in moved)               # only to the new worker
    assert 0.18 < len(moved) / len(USERS) < 0.32           # about a quarter
