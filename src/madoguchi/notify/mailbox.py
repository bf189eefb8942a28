"""The mailbox backend: every email and every identity letter written as a file, for the demo and development.

Nothing leaves the machine. Each mail becomes ``<data_dir>/mailbox/<time>-<id>.eml`` (the complete MIME message,
openable in any mail program) next to a ``.json`` with what the demo's mailbox page shows (kind, recipient,
subject, plain-text body). The folder is created ``0700``: the files hold one-time links and identity codes.

Identity letters (``notify.letter``) are paper in production; with this backend the letter's text, code included,
is written to the same folder, so a resident trying the demo can read the code "from the letter".

``madoguchi demo`` selects this backend, prints one line per mail (subject and link) and serves the folder at
``/demo/mailbox`` (``madoguchi.demo``). Outside the demo nothing shows these files.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from madoguchi.db import utcnow
from madoguchi.identity import operations as identity
from madoguchi.notify import messages
from madoguchi.outbox import OutboxMessage
from madoguchi.tenancy.models import Tenant

if TYPE_CHECKING:
    from madoguchi.config import Settings

#: Told about each mail written: (kind, subject, the link to follow or None). Letters carry a code, not a link.
Announce = Callable[[str, str, str | None], None]

_LINK = re.compile(r"https?://\S+")
LETTER_TEMPLATE = "identity.code"


@dataclass(frozen=True)
class Mail:
    """One mail in the mailbox, as the demo's mailbox page lists it."""

    id: str
    kind: str  # "email" or "letter"
    written_at: str
    recipient: str
    subject: str
    body: str

    @property
    def written(self) -> datetime:
        return datetime.fromisoformat(self.written_at)


def folder_of(settings: Settings) -> Path:
    return settings.data_dir / "mailbox"


def first_link(body: str) -> str | None:
    found = _LINK.search(body)
    return found.group(0) if found else None


class Mailbox:
    """A folder of mails, newest last by name (names start with the UTC time they were written)."""

    def __init__(self, folder: Path, announce: Announce | None = None) -> None:
        self.folder = folder
        self.announce = announce

    def _ensure_folder(self) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)  # mkdir's mode is masked by the umask, and an older folder may be wider

    def write(self, *, kind: str, recipient: str, subject: str, body: str, raw: bytes) -> Mail:
        self._ensure_folder()
        now = utcnow()
        mail = Mail(
            id=f"{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}",
            kind=kind,
            written_at=now.isoformat(),
            recipient=recipient,
            subject=subject,
            body=body,
        )
        for suffix, content in ((".eml", raw), (".json", json.dumps(mail.__dict__, ensure_ascii=False).encode())):
            path = self.folder / f"{mail.id}{suffix}"
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(content)
        if self.announce is not None:
            self.announce(kind, subject, first_link(body) if kind == "email" else None)
        return mail

    def mails(self, limit: int = 200) -> list[Mail]:
        """The newest ``limit`` mails, newest first."""
        if not self.folder.is_dir():
            return []
        paths = sorted(self.folder.glob("*.json"), reverse=True)[:limit]
        return [Mail(**json.loads(path.read_text(encoding="utf-8"))) for path in paths]


class MailboxMailer:
    """An email backend (``MADOGUCHI_EMAIL_BACKEND=mailbox``) that writes each email into the mailbox folder."""

    name = "mailbox"

    def __init__(self, settings: Settings, announce: Announce | None = None) -> None:
        self.mailbox = Mailbox(folder_of(settings), announce)

    def send(self, message: EmailMessage) -> None:
        body = message.get_content() if not message.is_multipart() else ""
        self.mailbox.write(
            kind="email",
            recipient=str(message["To"]),
            subject=str(message["Subject"]),
            body=body,
            raw=message.as_bytes(policy=policy.SMTP),
        )


class LetterToMailbox:
    """The ``notify.letter`` handler of the mailbox backend: the identity letter's text, code included, as a file.

    The code travels sealed in the outbox payload (only a letter printer opens it); this is such a printer."""

    def __init__(self, settings: Settings, mailbox: Mailbox) -> None:
        self.settings = settings
        self.mailbox = mailbox

    def __call__(self, session: Session, tenant: Tenant, message: OutboxMessage) -> None:
        payload: dict[str, Any] = message.payload or {}
        recipient = payload.get("recipient") or {}
        locale = messages.choose_locale(tenant, payload.get("locale"))
        context = {
            **messages.common_context(tenant, locale, self.settings),
            "name": recipient.get("name", ""),
            "postal_code": recipient.get("postal_code", ""),
            "address": recipient.get("address", ""),
            "code": identity.open_letter_code(payload, tenant.id, self.settings.data_key),
            "expires_on": payload.get("expires_on", ""),
        }
        subject, body = messages.render(str(payload.get("template") or LETTER_TEMPLATE), locale, context)
        address = f"〒{context['postal_code']} {context['address']} {context['name']}".strip()
        letter = EmailMessage()
        letter["To"] = address
        letter["Subject"] = subject
        letter.set_content(body, charset="utf-8", cte="base64")
        self.mailbox.write(kind="letter", recipient=address, subject=subject, body=body, raw=letter.as_bytes())
