"""The payment intent's states, and the one rule about them: they only move forward.

``requires_payment → processing → succeeded | failed | canceled | expired``; a ``requires_payment`` intent may
also end directly (a decline on the hosted page is ``failed``, the resident's cancel ``canceled``, the deadline
``expired``). An end state never changes again: a late ``failed`` after ``succeeded`` (providers deliver
webhooks out of order) is logged as ``ignored`` and changes nothing. Refunds do not change the intent's status:
they are their own rows (``models.Refund``) and the refunded amount is summed from them.
"""

from __future__ import annotations

REQUIRES_PAYMENT = "requires_payment"
PROCESSING = "processing"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELED = "canceled"
EXPIRED = "expired"

STATUSES = (REQUIRES_PAYMENT, PROCESSING, SUCCEEDED, FAILED, CANCELED, EXPIRED)
OPEN = (REQUIRES_PAYMENT, PROCESSING)
ENDED = (SUCCEEDED, FAILED, CANCELED, EXPIRED)

_RANK = {REQUIRES_PAYMENT: 0, PROCESSING: 1, SUCCEEDED: 2, FAILED: 2, CANCELED: 2, EXPIRED: 2}


def may_move(current: str, new: str) -> bool:
    """Whether an intent in ``current`` may move to ``new``: forward only, and never out of an end state."""
    if current not in _RANK or new not in _RANK:
        raise ValueError(f"unknown payment status {current!r} → {new!r}")
    if current in ENDED:
        return False
    return _RANK[new] > _RANK[current]
