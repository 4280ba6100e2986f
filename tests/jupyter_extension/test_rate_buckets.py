"""REST rate buckets: one per user, and a bounded number of them."""

from __future__ import annotations

from jupyter_extension.context import REST_BUCKETS, TerrariumContext
from terrarium.registry import AgentRegistry


def test_buckets_are_bounded_whatever_the_number_of_users() -> None:
    context = TerrariumContext(registry=AgentRegistry(), perturb_rate_limit=2)
    for user in range(3 * REST_BUCKETS):
        context.rest_bucket(f"user-{user}").take()
    assert len(context.rest_buckets) == REST_BUCKETS
    assert "user-0" not in context.rest_buckets


def test_a_recent_users_spent_bucket_is_kept_while_others_come_and_go() -> None:
    context = TerrariumContext(registry=AgentRegistry(), perturb_rate_limit=2)
    spender = context.rest_bucket("spender")
    for user in range(2 * REST_BUCKETS):
        context.rest_bucket(f"user-{user}")
        if user % 100 == 0:
            # Using it keeps it among the most recent.
            assert context.rest_bucket("spender") is spender
    # The same bucket, so what the user spent still counts against them.
    assert context.rest_bucket("spender") is spender
