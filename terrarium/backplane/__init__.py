"""The Redis Streams backplane: the parts ``terrarium.backplane.bus.RedisBus`` is made of.

Imported only when ``TerrariumApp.redis_url`` is set; the embedded default
never imports Redis. One concern per module:

- ``settings``: ``BackplaneSettings``, every knob of a replica in one place;
- ``bus``: ``RedisBus``, which wires the parts below to a registry;
- ``keys``: every Redis key name, under one namespace;
- ``retry``: what counts as "Redis is away" and how long to wait before trying again;
- ``writer``: the one task that appends to Redis, one pipeline per wake-up;
- ``streams``: reading an agent's event stream (its tail, and blocking reads);
- ``follower``: a local mirror fed from a remote agent's stream;
- ``directory``: the shared registry of agents, owners and heartbeats;
- ``messages``: the command and reply shapes carried between replicas;
- ``owner``: the owner's side of routed commands (a consumer group per agent);
- ``router``: the caller's side (send, then wait for the reply);
- ``tokens``: semaphore tokens kept in Redis;
- ``availability``: telling observers an owner died, or came back.
"""
