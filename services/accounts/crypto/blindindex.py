"""Blind indexes: keyed PRF values (Tink HMAC-SHA256 PRF) of normalised email addresses and
phone numbers, so sign-in and merges find an account without anything queryable in clear.

The PRF key is separate from the master keys: a Tink keyset generated once and stored in the
`keys` collection encrypted by the master key (the first replica's wins), so a copy of the
database without the key manager cannot compute or test an index.
"""

from __future__ import annotations

from typing import Any

import tink
from bson import Binary
from tink import prf

from services.accounts.crypto.masterkeys import MasterKeys
from shared.storeops import Collection, insert_or_get

prf.register()

DOC_ID = "blind-index"
_CONTEXT = b"surge-accounts-blind-index"


class BlindIndex:
    def __init__(self, handle: tink.KeysetHandle) -> None:
        self._prf = handle.primitive(prf.PrfSet).primary()

    def of(self, kind: str, value: str) -> str:
        """`kind` separates the spaces (an email and a phone never collide)."""
        digest: bytes = self._prf.compute(f"{kind}\x00{value}".encode(), 32)
        return digest.hex()

    @staticmethod
    def sealed(keys: MasterKeys, handle: tink.KeysetHandle, kek: str) -> dict[str, Any]:
        wrapped = tink.proto_keyset_format.serialize_encrypted(handle, keys.aead(kek), _CONTEXT)
        return {"_id": DOC_ID, "kek": kek, "keyset": Binary(wrapped)}

    @classmethod
    def unseal(cls, keys: MasterKeys, doc: dict[str, Any]) -> tink.KeysetHandle:
        aead_ = keys.aead(str(doc["kek"]))
        return tink.proto_keyset_format.parse_encrypted(bytes(doc["keyset"]), aead_, _CONTEXT)


async def load_blind_index(keys: MasterKeys, collection: Collection) -> BlindIndex:
    doc = await collection.find_one({"_id": DOC_ID})
    if doc is None:
        handle = tink.new_keyset_handle(prf.prf_key_templates.HMAC_SHA256)
        doc = await insert_or_get(collection, BlindIndex.sealed(keys, handle, keys.current))
    return BlindIndex(BlindIndex.unseal(keys, doc))


async def rewrap_blind_index(keys: MasterKeys, collection: Collection) -> bool:
    """Re-wrap the index keyset under the current master key; True when it changed."""
    doc = await collection.find_one({"_id": DOC_ID})
    if doc is None or doc["kek"] == keys.current:
        return False
    handle = BlindIndex.unseal(keys, doc)
    fresh = BlindIndex.sealed(keys, handle, keys.current)
    await collection.update_one({"_id": DOC_ID}, {"$set": fresh})
    return True
