"""The demo's mailbox page (``/demo/mailbox``): every email and identity letter the demo "sent", newest first.

Registered only by ``madoguchi demo`` (``madoguchi.demo.create_demo_app``) and only with the mailbox email
backend; it is public there, like the demo's printed passwords. No other app has this route.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask.typing import ResponseReturnValue

from madoguchi.config import Settings
from madoguchi.notify.mailbox import Mailbox, folder_of
from madoguchi.security import public

# The template already sits where the demo package keeps its files (``madoguchi/demo/templates``): moving this
# module into that package only turns this folder into "templates".
bp = Blueprint("demo_mailbox", __name__, url_prefix="/demo", template_folder="templates")


@bp.get("/mailbox")
@public
def mailbox() -> ResponseReturnValue:
    settings: Settings = current_app.config["MADOGUCHI"]
    return render_template("notify/mailbox.html", mails=Mailbox(folder_of(settings)).mails())
