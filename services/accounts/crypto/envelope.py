"""Envelope encryption with Tink's `KmsEnvelopeAead`: every seal makes a fresh AES-256-GCM data
key, encrypts the plaintext with it and has the master key wrap it.

Tink's envelope ciphertext is `len(wrapped key) (4 bytes, big endian) || wrapped key || data
ciphertext` (its documented wire format). We keep the two parts apart, as the seed's design
does: the wrapped data key (`dek`) beside the blob, plus the id of the master key (`kek`) that
wrapped it. That is what lets a master-key rotation re-wrap the data key without touching the
blob, and erasure destroy the data key alone (crypto-shredding). The associated data binds a
blob to its account: a blob copied onto another account does not decrypt.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from bson import Binary
from tink import aead

from services.accounts.crypto.masterkeys import MasterKeys

_TEMPLATE = aead.aead_key_templates.AES256_GCM
_LENGTH = struct.Struct(">I")


@dataclass(frozen=True)
class Sealed:
    kek: str  # id of the master key that wrapped `dek`
    dek: bytes  # the wrapped data key
    blob: bytes  # the data, AES-256-GCM under the data key

    def document(self) -> dict[str, Any]:
        return {"kek": self.kek, "dek": Binary(self.dek), "blob": Binary(self.blob)}

    @classmethod
    def of(cls, document: dict[str, Any]) -> Sealed:
        return cls(str(document["kek"]), bytes(document["dek"]), bytes(document["blob"]))


class Envelope:
    def __init__(self, keys: MasterKeys) -> None:
        self.keys = keys
        self._envelopes: dict[str, aead.KmsEnvelopeAead] = {}

    def _envelope(self, kek: str) -> aead.KmsEnvelopeAead:
        found = self._envelopes.get(kek)
        if found is None:
            found = self._envelopes[kek] = aead.KmsEnvelopeAead(_TEMPLATE, self.keys.aead(kek))
        return found

    def seal(self, plaintext: bytes, context: bytes) -> Sealed:
        kek = self.keys.current
        ciphertext = self._envelope(kek).encrypt(plaintext, context)
        (length,) = _LENGTH.unpack_from(ciphertext)
        start = _LENGTH.size
        return Sealed(kek, ciphertext[start : start + length], ciphertext[start + length :])

    def open(self, sealed: Sealed, context: bytes) -> bytes:
        joined = _LENGTH.pack(len(sealed.dek)) + sealed.dek + sealed.blob
        plain: bytes = self._envelope(sealed.kek).decrypt(joined, context)
        return plain

    def rewrap(self, sealed: Sealed) -> Sealed:
        """The same data key wrapped by the current master key (the blob is unchanged)."""
        kek = self.keys.current
        if sealed.kek == kek:
            return sealed
        # Tink wraps the data key with empty associated data (KmsEnvelopeAead).
        raw = self.keys.aead(sealed.kek).decrypt(sealed.dek, b"")
        return Sealed(kek, self.keys.aead(kek).encrypt(raw, b""), sealed.blob)
