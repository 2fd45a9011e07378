"""Kademlia routing table of discv5: 256 buckets by log distance, 16 records each."""

from collections import OrderedDict

from sentinel.enr import ENR

BUCKET_SIZE = 16


def log_distance(a: bytes, b: bytes) -> int:
    """Return the discv5 log distance: the bit length of `a xor b` (0 for equal ids)."""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_length()


class RoutingTable:
    """Records by log distance from the local id, least recently seen first per bucket.

    A full bucket keeps its old entries (Kademlia prefers long-lived nodes) and
    keeps the newcomer as a replacement, promoted when an entry is removed.
    """

    def __init__(self, local_id: bytes, bucket_size: int = BUCKET_SIZE) -> None:
        self.local_id = local_id
        self.bucket_size = bucket_size
        self._buckets: list[OrderedDict[bytes, ENR]] = [OrderedDict() for _ in range(257)]
        self._replacements: list[OrderedDict[bytes, ENR]] = [OrderedDict() for _ in range(257)]

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self._buckets)

    def __contains__(self, node_id: bytes) -> bool:
        return node_id in self._buckets[log_distance(self.local_id, node_id)]

    def get(self, node_id: bytes) -> ENR | None:
        """Return the stored record of `node_id`, if any."""
        return self._buckets[log_distance(self.local_id, node_id)].get(node_id)

    def add(self, record: ENR) -> bool:
        """Insert or refresh a record. Returns False when its bucket is full."""
        node_id = record.node_id
        distance = log_distance(self.local_id, node_id)
        if distance == 0:
            return False
        bucket = self._buckets[distance]
        current = bucket.get(node_id)
        if current is not None:
            if record.seq >= current.seq:
                bucket[node_id] = record
            bucket.move_to_end(node_id)
            return True
        if len(bucket) < self.bucket_size:
            bucket[node_id] = record
            return True
        replacements = self._replacements[distance]
        replacements[node_id] = record
        while len(replacements) > self.bucket_size:
            replacements.popitem(last=False)
        return False

    def remove(self, node_id: bytes) -> None:
        """Drop a record (it stopped responding) and promote a replacement."""
        distance = log_distance(self.local_id, node_id)
        if self._buckets[distance].pop(node_id, None) is not None and self._replacements[distance]:
            replacement_id, record = self._replacements[distance].popitem()
            self._buckets[distance][replacement_id] = record

    def at_distance(self, distance: int) -> list[ENR]:
        """Return the records of one bucket."""
        if not 1 <= distance <= 256:
            return []
        return list(self._buckets[distance].values())

    def closest(self, target: bytes, count: int = BUCKET_SIZE) -> list[ENR]:
        """Return up to `count` records closest to `target` by XOR distance."""
        value = int.from_bytes(target, "big")
        records = [record for bucket in self._buckets for record in bucket.values()]
        records.sort(key=lambda record: int.from_bytes(record.node_id, "big") ^ value)
        return records[:count]

    def records(self) -> list[ENR]:
        """Return every record in the table."""
        return [record for bucket in self._buckets for record in bucket.values()]
