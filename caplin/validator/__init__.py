"""Validator duties run inside the node: interop keys, proposals, attestations, aggregates and
sync committee messages and contributions."""
