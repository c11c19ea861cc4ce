"""Master keys (key-encryption keys) held by a key manager, behind one small interface.

    keys = LocalKeyset.open(path)          # the embedded default: a Tink keyset file, 0600
    keys = AwsKmsKeys(uri, previous=[...]) # Tink's AWS KMS AEAD (boto3)
    keys = VaultKeys(uri, client=...)      # Tink's HashiCorp Vault Transit AEAD (hvac)
    keys.current                           # id of the key that wraps new data keys
    keys.aead(kek_id)                      # a Tink AEAD that wraps/unwraps with that key

Each record stores the id of the key that wrapped its data key, so reads work across keys and
rotation knows what is left to re-wrap. Remote managers answer over the network, so their
`blocking` is True and callers run them in a thread, never on the event loop.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import tink
from tink import aead, secret_key_access

aead.register()

LOCAL_PREFIX = "local:"


class UnknownKeyError(LookupError):
    """A record names a master key this key manager does not hold (or no longer holds)."""


class MasterKeys(Protocol):
    @property
    def current(self) -> str: ...

    @property
    def blocking(self) -> bool: ...

    def aead(self, kek: str) -> aead.Aead: ...

    def known(self) -> list[str]: ...


class LocalKeyset:
    """Master keys in a file: `{"primary": id, "keys": {id: <Tink JSON keyset>}}`.

    Generated once (mode 0600, written atomically) and never logged. `rotate()` adds a fresh
    AES-256-GCM key and makes it primary; earlier keys stay until every data key they wrapped
    has been re-wrapped (`retire()`). Another process's rotation is seen when the file changes.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._primary = ""
        self._aeads: dict[str, aead.Aead] = {}

    @classmethod
    def open(cls, path: Path) -> LocalKeyset:
        keys = cls(path)
        with keys._lock:
            if not path.exists():
                keys._write({"primary": "", "keys": {}}, add=True)
            keys._load()
        return keys

    @property
    def blocking(self) -> bool:
        return False

    @property
    def current(self) -> str:
        self._refresh()
        return self._primary

    def known(self) -> list[str]:
        self._refresh()
        return sorted(self._aeads)

    def aead(self, kek: str) -> aead.Aead:
        self._refresh()  # one stat: another process may have rotated or retired a key
        found = self._aeads.get(kek)
        if found is None:
            raise UnknownKeyError(kek)
        return found

    def rotate(self) -> str:
        """A new primary key; returns its id."""
        with self._lock:
            self._write(self._document(), add=True)
            self._load()
            return self._primary

    def retire(self, kek: str) -> None:
        """Forget a key that no longer wraps anything (the caller checked)."""
        with self._lock:
            document = self._document()
            if kek == document["primary"]:
                raise ValueError("the primary key cannot be retired")
            document["keys"].pop(kek, None)
            self._write(document, add=False)
            self._load()

    def _document(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.path.read_text())
        return loaded

    def _write(self, document: dict[str, Any], *, add: bool) -> None:
        if add:
            handle = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)
            kek = f"{LOCAL_PREFIX}{handle.keyset_info().primary_key_id}"
            serialized = tink.json_proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
            document["keys"][kek] = serialized
            document["primary"] = kek
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle_file:
            json.dump(document, handle_file)
        os.replace(partial, self.path)
        os.chmod(self.path, 0o600)

    def _load(self) -> None:
        stat = self.path.stat()
        document = self._document()
        aeads = {}
        for kek, serialized in document["keys"].items():
            handle = tink.json_proto_keyset_format.parse(serialized, secret_key_access.TOKEN)
            aeads[kek] = handle.primitive(aead.Aead)
        self._aeads, self._primary = aeads, str(document["primary"])
        self._stamp = (stat.st_mtime_ns, stat.st_ino)

    def _refresh(self, *, force: bool = False) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return
        if force or (stat.st_mtime_ns, stat.st_ino) != self._stamp:
            with self._lock:
                self._load()


class _RemoteKeys:
    """Key URIs at a remote key manager: the first wraps, every one listed unwraps."""

    def __init__(self, current: str, previous: Iterable[str]) -> None:
        if not current:
            raise ValueError("a key URI is required for a remote key manager")
        self._current = current
        self._uris = [current, *(uri for uri in previous if uri and uri != current)]
        self._aeads: dict[str, aead.Aead] = {}

    @property
    def blocking(self) -> bool:
        return True

    @property
    def current(self) -> str:
        return self._current

    def known(self) -> list[str]:
        return list(self._uris)

    def aead(self, kek: str) -> aead.Aead:
        if kek not in self._uris:
            raise UnknownKeyError(kek)
        if kek not in self._aeads:
            self._aeads[kek] = self._make(kek)
        return self._aeads[kek]

    def _make(self, uri: str) -> Any:
        raise NotImplementedError


class AwsKmsKeys(_RemoteKeys):
    """AWS KMS through Tink's `awskms` integration (`aws-kms://arn:aws:kms:...`)."""

    def __init__(
        self,
        current: str,
        previous: Iterable[str] = (),
        *,
        region: str = "us-east-1",
        endpoint_url: str | None = None,
    ) -> None:
        super().__init__(current, previous)
        import boto3
        from tink.integration import awskms

        client = boto3.client("kms", region_name=region, endpoint_url=endpoint_url or None)
        self._client = awskms.new_client(boto3_client=client)

    def _make(self, uri: str) -> aead.Aead:
        return self._client.get_aead(uri)


class VaultKeys(_RemoteKeys):
    """HashiCorp Vault Transit through Tink's `hcvault` integration
    (`hcvault://<mount>/keys/<name>`), authenticated by hvac."""

    def __init__(
        self, current: str, previous: Iterable[str] = (), *, address: str, token: str
    ) -> None:
        super().__init__(current, previous)
        import hvac

        self._client = hvac.Client(url=address, token=token)

    def _make(self, uri: str) -> aead.Aead:
        from tink.integration import hcvault

        return hcvault.new_aead(uri.removeprefix("hcvault://"), self._client)


def split_uris(text: str) -> list[str]:
    return [item.strip() for item in text.replace(",", " ").split() if item.strip()]


def main() -> None:
    """`python -m services.accounts.crypto.masterkeys <file>`: a new local keyset file (0600),
    for a Secret; it prints only the key id, never the key."""
    import sys

    path = Path(sys.argv[1])
    if path.exists():
        sys.exit(f"{path} exists: refusing to overwrite master keys")
    print(LocalKeyset.open(path).current)


if __name__ == "__main__":
    main()
