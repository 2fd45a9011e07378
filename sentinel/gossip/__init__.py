"""Gossip validation: the p2p spec's ACCEPT / IGNORE / REJECT rules of every topic.

`GossipValidator` decodes a message of a topic, checks it against a
`ChainView` (blocks, states and finality, normally from fork choice) and its
`SeenCache`, and returns a `ValidationResult`.
"""

from sentinel.gossip.chain import (
    BlockTree,
    ChainView,
    Checkpoint,
    ForkChoiceView,
    PayloadStatus,
)
from sentinel.gossip.clock import GossipClock
from sentinel.gossip.result import GossipValidationError, ValidationResult, Verdict
from sentinel.gossip.seen import SeenCache
from sentinel.gossip.topics import GossipTopic, compute_message_id, parse_topic
from sentinel.gossip.validator import TOPICS, GossipValidator, message_type

__all__ = [
    "TOPICS",
    "BlockTree",
    "ChainView",
    "Checkpoint",
    "ForkChoiceView",
    "GossipClock",
    "GossipTopic",
    "GossipValidationError",
    "GossipValidator",
    "PayloadStatus",
    "SeenCache",
    "ValidationResult",
    "Verdict",
    "compute_message_id",
    "message_type",
    "parse_topic",
]
