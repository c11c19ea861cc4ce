"""Outgoing mail behind one small interface, so a deployment plugs in its own sender.

There is no mail server under `make run`: the default sender (`ACCOUNTS_MAIL_SENDER=file`)
writes each message as an `.eml` file to ACCOUNTS_MAIL_DIR (`.run/mail/`) and logs where it put
it together with the link inside, so a developer can click through sign-up. `log` only logs.
A production sender (SMTP, a provider's API) implements `MailSender.send`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

log = logging.getLogger("services.accounts.mail")


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    link: str | None = None  # the one action the message asks for (logged by local senders)


class MailSender(Protocol):
    async def send(self, mail: Mail) -> None: ...


class LogSender:
    async def send(self, mail: Mail) -> None:
        log.info("mail to %s: %s %s", _masked(mail.to), mail.subject, mail.link or "")


class FileSender:
    def __init__(self, directory: Path, sender: str) -> None:
        self.directory = directory
        self.sender = sender

    async def send(self, mail: Mail) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, mail.to, mail.subject
        message.set_content(mail.text)
        name = f"{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}.eml"
        path = self.directory / name
        await asyncio.to_thread(self._write, path, bytes(message))
        log.info("mail to %s written to %s: %s", _masked(mail.to), path, mail.link or mail.subject)

    def _write(self, path: Path, body: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_bytes(body)
        path.chmod(0o600)


def _masked(address: str) -> str:
    """`a***@example.com`: enough to tell messages apart in a log, not the address."""
    return re.sub(r"^(.).*@", r"\1***@", address)
