"""Every key the backplane uses, in one place, under one namespace.

A namespace lets several Terrarium deployments (or test runs) share a Redis
without seeing each other's agents.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The consumer group of every command stream: the agent's owner is its only consumer.
OWNER_GROUP = "owner"


@dataclass(frozen=True, slots=True)
class Keys:
    namespace: str = "terrarium"

    @property
    def agents(self) -> str:
        """Hash: agent id -> JSON ``{owner, status, perturbation_timeout, updated_at}``."""
        return f"{self.namespace}:agents"

    @property
    def tokens(self) -> str:
        """Hash: semaphore token id -> the token's JSON record."""
        return f"{self.namespace}:tokens"

    def events(self, agent_id: str) -> str:
        """Stream of the agent's mirror events: ``{seq, payload}`` per entry."""
        return f"{self.namespace}:agent:{agent_id}:events"

    def epoch(self, agent_id: str) -> str:
        """String: the epoch of the agent's event stream (the owner sets it, everyone reads it)."""
        return f"{self.namespace}:agent:{agent_id}:epoch"

    def commands(self, agent_id: str) -> str:
        """Stream of commands for the agent's owner (perturb, resolve, cancel)."""
        return f"{self.namespace}:agent:{agent_id}:commands"

    def watchers(self, agent_id: str) -> str:
        """Sorted set: replicas with observers of the agent, scored by when that expires."""
        return f"{self.namespace}:agent:{agent_id}:watchers"

    def pending_tokens(self, agent_id: str) -> str:
        """Sorted set: the agent's pending token ids, scored by creation time."""
        return f"{self.namespace}:agent:{agent_id}:pending"

    @property
    def replica_prefix(self) -> str:
        return f"{self.namespace}:replica:"

    def replica(self, replica_id: str) -> str:
        """The replica's heartbeat: a key with an expiry, refreshed while it lives."""
        return f"{self.replica_prefix}{replica_id}"

    def replies(self, replica_id: str) -> str:
        """Stream of replies to the commands this replica routed to owners."""
        return f"{self.replica_prefix}{replica_id}:replies"
