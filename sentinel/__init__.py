"""Networking of the beacon node.

- `sentinel.enr`: Ethereum Node Records (EIP-778) with the eth2 fields.
- `sentinel.discv5`: discv5 v5.1 (packets, handshake, routing table, lookups).
- `sentinel.reqresp`: the ssz_snappy req/resp codec and protocol table.
- `sentinel.host`: the libp2p host (noise, mplex/yamux) serving req/resp.
- `sentinel.gossipsub`: py-libp2p gossipsub adapted to Ethereum.
- `sentinel.gossip`: gossip validation of each topic.
- `sentinel.service.Sentinel`: all of the above as one trio service for the node.
"""
