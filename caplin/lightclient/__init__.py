"""The Altair light client protocol: the sync store, and the data a full node serves.

`sync` contains the client side (`LightClientStore`, `process_light_client_update`),
`full_node` and `collector` the server side (`create_light_client_update`,
`LightClientDataCollector`), and `headers` what both share (headers, gindices
by fork, upgrades of light client objects between forks). `gloas` adds the
Gloas light client types, so a store can follow a chain into Gloas.
"""

from caplin.lightclient.collector import BlockId, LightClientDataCollector
from caplin.lightclient.full_node import (
    LightClientDataError,
    create_light_client_bootstrap,
    create_light_client_finality_update,
    create_light_client_optimistic_update,
    create_light_client_update,
)
from caplin.lightclient.headers import (
    block_to_light_client_header,
    compute_sync_committee_period_at_slot,
    current_sync_committee_gindex_at_slot,
    finalized_root_gindex_at_slot,
    get_lc_execution_root,
    is_valid_light_client_header,
    lc_object_kind,
    next_sync_committee_gindex_at_slot,
    upgrade_lc_object,
)
from caplin.lightclient.sync import (
    LightClientError,
    LightClientStore,
    apply_light_client_update,
    get_safety_threshold,
    initialize_light_client_store,
    is_better_update,
    is_finality_update,
    is_next_sync_committee_known,
    is_sync_committee_update,
    process_light_client_finality_update,
    process_light_client_optimistic_update,
    process_light_client_store_force_update,
    process_light_client_update,
    upgrade_lc_store,
    validate_light_client_update,
)

__all__ = [
    "BlockId",
    "LightClientDataCollector",
    "LightClientDataError",
    "LightClientError",
    "LightClientStore",
    "apply_light_client_update",
    "block_to_light_client_header",
    "compute_sync_committee_period_at_slot",
    "create_light_client_bootstrap",
    "create_light_client_finality_update",
    "create_light_client_optimistic_update",
    "create_light_client_update",
    "current_sync_committee_gindex_at_slot",
    "finalized_root_gindex_at_slot",
    "get_lc_execution_root",
    "get_safety_threshold",
    "initialize_light_client_store",
    "is_better_update",
    "is_finality_update",
    "is_next_sync_committee_known",
    "is_sync_committee_update",
    "is_valid_light_client_header",
    "lc_object_kind",
    "next_sync_committee_gindex_at_slot",
    "process_light_client_finality_update",
    "process_light_client_optimistic_update",
    "process_light_client_store_force_update",
    "process_light_client_update",
    "upgrade_lc_object",
    "upgrade_lc_store",
    "validate_light_client_update",
]
