from caplin.crypto import bls
from caplin.validator.keys import interop_keys, interop_secret_key

# Published interop (quick-start) keys of validators 0 and 1.
KNOWN = {
    0: (
        0x25295F0D1D592A90B333E26E85149708208E9F8E8BC18F6C77BD62F8AD7A6866,
        "a99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4"
        "bf2d153f649f7b53359fe8b94a38e44c",
    ),
    1: (
        0x51D0B65185DB6989AB0B560D6DEED19C7EAD0E24B9B6372CBECB1F26BDFAD000,
        "b89bebc699769726a318c8e9971bd3171297c61aea4a6578a7a4f94b547dcba5"
        "bac16a89108b6b6a1fe3695d1a874a0b",
    ),
}


def test_interop_keys_match_published_values():
    keys = interop_keys(2)
    for index, (secret_key, pubkey) in KNOWN.items():
        assert interop_secret_key(index) == secret_key
        assert keys[index].pubkey.hex() == pubkey


def test_interop_key_signs_verifiably():
    key = interop_keys(3)[2]
    message = b"\x07" * 32
    assert bls.Verify(key.pubkey, message, key.sign(message))


def test_interop_keys_are_distinct():
    pubkeys = {key.pubkey for key in interop_keys(64)}
    assert len(pubkeys) == 64
