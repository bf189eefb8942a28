"""The fake payment provider's hosted page, ``/fake-pay/<ref>``: the demo's and the tests' card checkout.

It stands where a provider's own checkout page stands (outside Madoguchi, outside any municipality): it shows
the amount and whom it is paid to, and three buttons: Succeed, Decline, Cancel. Two switches make the provider
misbehave as real ones do: deliver its webhook twice, and deliver a stale event after the final one. Then it sends
the resident back to the return address the payment was created with. No card number is asked for, ever.

Public (a checkout page needs no sign-in); a payment is found only by its random reference. Decision 0044.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_limiter.util import get_remote_address

from madoguchi.context import db_session
from madoguchi.extensions import limiter
from madoguchi.payments import fake_checkout, states
from madoguchi.payments.providers import fake
from madoguchi.security import public

fake_pay_pages = Blueprint("fake_pay", __name__, url_prefix="/fake-pay", template_folder="templates")
WEB_BLUEPRINTS = [fake_pay_pages]

# Public, like /verify: the API's rate limit (MADOGUCHI_API_RATE_LIMIT) per address.
limiter.limit(lambda: current_app.config["MADOGUCHI"].api_rate_limit, key_func=get_remote_address, scope="fake-pay")(
    fake_pay_pages
)


def _hosted(ref: str) -> fake_checkout.HostedPayment:
    hosted = fake_checkout.hosted_payment(db_session(), ref)
    if hosted is None:
        abort(404)
    return hosted


@fake_pay_pages.get("/<token>")
@public
def page(token: str) -> ResponseReturnValue:
    hosted = _hosted(token)
    return render_template(
        "fake_pay/page.html",
        payment=hosted.payment,
        merchant=hosted.tenant,
        ended=hosted.payment.status in states.ENDED,
    )


@fake_pay_pages.post("/<token>")
@public
def press(token: str) -> ResponseReturnValue:
    hosted = _hosted(token)
    outcome = request.form.get("outcome", "")
    if outcome not in fake.OUTCOMES:
        abort(400)
    fake_checkout.press(
        db_session(),
        hosted,
        outcome,
        settings=current_app.config["MADOGUCHI"],
        duplicate=request.form.get("duplicate") == "true",
        out_of_order=request.form.get("out_of_order") == "true",
    )
    return redirect(hosted.payment.return_url, 303)
