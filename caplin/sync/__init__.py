"""Range sync from peers (see `range_sync`)."""

from caplin.sync.range_sync import RangeSync

__all__ = ["RangeSync"]
