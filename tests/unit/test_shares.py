"""The run's cap split across topics and partitions: all of it used where there is demand, nobody past
its demand, and every topic with new records moving."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from include.cdc.ingest.shares import cap_shares, max_min_shares

demand = st.one_of(st.none(), st.integers(0, 500))


@given(budget=st.integers(0, 2000), demands=st.lists(demand, min_size=1, max_size=12))
def test_max_min_shares_use_the_budget_fairly(budget, demands):
    wanted = dict(enumerate(demands))
    shares = max_min_shares(budget, wanted)
    unlimited = any(d is None for d in demands)
    assert sum(shares.values()) == (budget if unlimited else min(budget, sum(demands)))
    for k, share in shares.items():
        assert share >= 0
        if wanted[k] is not None:
            assert share <= wanted[k]
    # Max-min fair: whoever got less than it wanted got at least as much as anyone else, less one.
    for k, share in shares.items():
        if wanted[k] is None or share < wanted[k]:
            assert all(other <= share + 1 for other in shares.values())


@given(
    budget=st.integers(0, 2000),
    topics=st.dictionaries(
        st.sampled_from(["product", "availability", "analogue", "oem"]),
        st.lists(st.integers(0, 500), min_size=1, max_size=3),
        min_size=1,
    ),
)
def test_every_topic_with_new_records_moves_when_the_cap_allows(budget, topics):
    demands = {(t, p): d for t, parts in topics.items() for p, d in enumerate(parts)}
    shares = cap_shares(budget, demands)
    per_topic = {t: sum(s for (topic, _), s in shares.items() if topic == t) for t in topics}
    waiting = [t for t, parts in topics.items() if sum(parts) > 0]
    if budget >= len(waiting):
        assert all(per_topic[t] > 0 for t in waiting)
    assert sum(shares.values()) == min(budget, sum(demands.values()))


def test_a_small_table_takes_what_it_needs_and_the_rest_is_split():
    demands = {("product", 0): 17_500, ("availability", 0): 9_000, ("analogue", 0): 300, ("oem", 0): 9_000}
    assert cap_shares(5000, demands) == {
        ("product", 0): 1567,
        ("availability", 0): 1567,
        ("analogue", 0): 300,
        ("oem", 0): 1566,
    }
