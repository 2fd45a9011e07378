"""Chain configuration: presets, network configs, constants and fork lookups."""

from caplin.config.chainspec import NETWORKS, PRESETS, ChainSpec
from caplin.config.forks import FORKS, Fork

__all__ = ["FORKS", "NETWORKS", "PRESETS", "ChainSpec", "Fork"]
