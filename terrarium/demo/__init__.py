"""What ``jupyter terrarium`` serves when nothing else is configured.

``agents`` holds the demo agents; ``grammar`` is the parser genus they show
Prism with.
"""

from terrarium.demo.agents import (
    Approver,
    Firehose,
    approver_agent,
    demo_agents,
    echo_agent,
    firehose_agent,
    heartbeat_agent,
    slow_agent,
)

__all__ = [
    "Approver",
    "Firehose",
    "approver_agent",
    "demo_agents",
    "echo_agent",
    "firehose_agent",
    "heartbeat_agent",
    "slow_agent",
]
