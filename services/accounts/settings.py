"""Accounts configuration (environment variables prefixed `ACCOUNTS_`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class AccountsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ACCOUNTS_", extra="ignore", frozen=True)

    port: int = Field(default=8087, ge=0, le=65535)
    # The issuer identifier: the public URL of /accounts through the gateway (tokens' `iss`,
    # discovery, links in mails). `make run` sets it from the gateway's port.
    issuer: str = "http://127.0.0.1:8080/accounts"
    # The `aud` of first-party access tokens (AUTH_AUDIENCE of the services that check it).
    audience: str = "surge"
    # Peers whose X-Forwarded-For we believe (the gateway), for per-IP back-off and sessions.
    trusted_proxies: str = "127.0.0.1/32"

    # --- tokens ---
    access_token_ttl_seconds: int = Field(default=600, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=14 * 86_400, ge=60)  # idle lifetime
    session_ttl_seconds: int = Field(default=30 * 86_400, ge=60)  # absolute lifetime
    # A signing key signs for this long, then the next one takes over; the old one stays in the
    # JWKS until the tokens it signed have expired.
    signing_key_rotation_seconds: int = Field(default=30 * 86_400, ge=60)
    # Notifier channel patterns every access token grants (the `channels` claim).
    channels: str = "zone:*"
    authorization_code_ttl_seconds: int = Field(default=120, ge=10, le=600)

    # --- passwords ---
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65_536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    # Threads running argon2 (it releases the GIL): the event loop never hashes.
    hash_workers: int = Field(default=2, ge=1, le=64)
    password_min_length: int = Field(default=10, ge=8, le=128)
    # zxcvbn score (0-4) a new password must reach.
    password_min_score: int = Field(default=3, ge=0, le=4)

    # --- credential stuffing ---
    # Failures allowed before the per-account back-off starts, its base and its cap.
    backoff_free_failures: int = Field(default=3, ge=0)
    backoff_base_seconds: float = Field(default=1.0, gt=0)
    backoff_max_seconds: float = Field(default=900.0, gt=0)

    # --- sign-up and mail ---
    require_verified_email: bool = True
    verify_link_ttl_seconds: int = Field(default=86_400, ge=60)
    # `file` writes each message to mail_dir and logs its link (no mail server needed); `log`
    # only logs. Another sender plugs in through services.accounts.mail.MailSender.
    mail_sender: Literal["file", "log"] = "file"
    mail_dir: Path = Path(".run/mail")
    mail_from: str = "Surge accounts <no-reply@surge.local>"

    # --- personal data under envelope encryption ---
    # Where master keys live: `local` (a Tink keyset file, generated once, 0600), `aws-kms`
    # (Tink's AWS KMS AEAD) or `vault` (Tink's HashiCorp Vault Transit AEAD).
    key_manager: Literal["local", "aws-kms", "vault"] = "local"
    keyset_file: Path = Path(".run/accounts/master-keys.json")
    # aws-kms: `aws-kms://arn:aws:kms:...` of the current key; earlier ones still decrypt.
    kms_key_uri: str = ""
    kms_previous_key_uris: str = ""
    kms_endpoint_url: str = ""  # another KMS endpoint (a local double such as moto)
    kms_region: str = "us-east-1"
    # vault: `hcvault://<transit mount>/keys/<name>`, its address and token.
    vault_key_uri: str = ""
    vault_previous_key_uris: str = ""
    vault_address: str = "http://127.0.0.1:8200"
    vault_token: SecretStr | None = None
    # Re-wrapping data keys after a master-key rotation: records per batch, pause between.
    rewrap_batch: int = Field(default=200, ge=1)
    rewrap_pause_seconds: float = Field(default=0.05, ge=0)

    # --- import ---
    import_max_users: int = Field(default=1000, ge=1, le=10_000)
