"""領収書: a signed receipt of the fees paid for an application, on request (the resident in the portal, staff in
the console).

Built from the payments ledger at the moment it is asked for and stored as the document's content, so the PDF
states what was on record then and /verify vouches for it: who paid (the applicant as the form names them), for
what (the procedure, 但し書き), the quote's lines (手数料, and the tenant's システム利用料 as its own line), each
payment that succeeded (date in Japan, how), what was refunded, and what was finally received. Nothing paid, no
receipt. Decision 0046.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.applications import forms
from madoguchi.applications.models import Application
from madoguchi.errors import Conflict
from madoguchi.payments import intents, refunds, states

KIND = "payment_receipt"
BREAK = ("", "")
MODES_JA = {
    "prepay": "オンライン決済",
    "after_fee_fixed": "オンライン決済（事後決済）",
    "counter_cash": "窓口（現金）",
    "counter_terminal": "窓口（キャッシュレス決済端末）",
    "postal_order": "定額小為替",
}


def _ja(text: Any) -> str:
    return str(text.get("ja") or text.get("en") or "") if isinstance(text, dict) else str(text or "")


def _yen(amount: int) -> str:
    return f"{amount:,}円"


def receipt_content(session: Session, application: Application) -> dict[str, Any]:
    """The content of the 領収書 (raises ``Conflict`` when nothing was paid)."""
    paid = [i for i in intents.intents_of(session, application) if i.status == states.SUCCEEDED]
    if not paid:
        raise Conflict("No fee was paid for this application: there is nothing to give a receipt for.")
    quote = intents.current_quote(session, application)
    settings = application.settings_snapshot or {}
    procedure = _ja(settings.get("title")) or application.service_key
    total = sum(i.amount_jpy for i in paid)
    refunded = refunds.refunded_total(session, application)
    payer = forms.resolve(application.data or {}, "/applicant/name", None)
    return {
        "reference": application.reference,
        "procedure": procedure,
        "payer": str(payer) if payer else "",
        "purpose": f"{procedure}の手数料として",
        "items": [
            {
                "label": _ja(item.get("label")),
                "unit_price": item.get("unit_price"),
                "quantity": item.get("quantity"),
                "amount": item.get("amount"),
            }
            for item in (quote.items if quote is not None else [])
        ],
        "payments": [
            {
                "paid_on": jp.to_wareki(jp.date_in_japan(i.succeeded_at)) if i.succeeded_at else "",
                "how": MODES_JA.get(i.mode, i.mode),
                "amount_jpy": i.amount_jpy,
            }
            for i in paid
        ],
        "paid_jpy": total,
        "refunded_jpy": refunded,
        "received_jpy": total - refunded,
    }


def receipt_lines(content: dict[str, Any]) -> list[tuple[str, str]]:
    """The rows of the PDF: the amount received first, what it was for, the lines, then each payment."""
    lines = [
        ("領収金額", _yen(int(content.get("received_jpy") or 0))),
        ("宛名", f"{content.get('payer')} 様" if content.get("payer") else ""),
        ("但し書き", str(content.get("purpose") or "")),
        ("申込番号", str(content.get("reference") or "")),
        BREAK,
    ]
    for item in content.get("items") or []:
        quantity = item.get("quantity") or 1
        lines.append((str(item.get("label")), f"{_yen(int(item.get('unit_price') or 0))} × {quantity} = "
                                              f"{_yen(int(item.get('amount') or 0))}"))  # fmt: skip
    lines.append(BREAK)
    for number, payment in enumerate(content.get("payments") or [], start=1):
        lines.append((f"納付（{number}）", f"{payment.get('paid_on')} {payment.get('how')} "
                                         f"{_yen(int(payment.get('amount_jpy') or 0))}"))  # fmt: skip
    if content.get("refunded_jpy"):
        lines.append(("還付金額", _yen(int(content["refunded_jpy"]))))
    return lines
