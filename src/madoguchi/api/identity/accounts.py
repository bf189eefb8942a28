"""The identity API for an account holder: sign-up, address verification, password reset, sign-in and the
session, and ``/me`` (the account, TOTP, password, identity verification by letter)."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView

from madoguchi.api.identity.common import (
    _signed_in,
    account_view,
    blp,
    problems,
    public_blp,
)
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import PROBLEM_CONTENT_TYPE, Forbidden
from madoguchi.extensions import ProblemSchema, limiter
from madoguchi.identity import boundary, operations, sessions
from madoguchi.identity.card import operations as card_operations
from madoguchi.identity.models import AccountKind
from madoguchi.identity.principal import current_principal
from madoguchi.identity.schemas import (
    AccountSchema,
    EmailTokenSchema,
    IdentityLetterRequestSchema,
    IdentityLetterSchema,
    LoginSchema,
    MeSchema,
    OneTimeCodeSchema,
    PasswordChangeSchema,
    PasswordResetAcceptedSchema,
    PasswordResetRequestSchema,
    PasswordResetSchema,
    SessionSchema,
    SignUpAcceptedSchema,
    SignUpSchema,
    TotpEnrollmentSchema,
)
from madoguchi.security import public

# --- Public: sign-up, address verification, sign-in ---------------------------------------------------


@public_blp.route("/t/<tenant>/accounts")
@public
class Accounts(MethodView):
    @limiter.limit(boundary.SIGN_UP_RATE_LIMIT)
    @public_blp.arguments(SignUpSchema)
    @public_blp.response(201, SignUpAcceptedSchema)
    @problems(public_blp, 403, 404, 422, 429)
    def post(self, args: dict[str, Any]) -> Any:
        """Sign up as a resident

        The answer is the same whether or not the address already has an account: a new address gets a
        verification link (valid 24 hours), a known one a reminder that it has an account. Rate-limited per IP.
        """
        operations.sign_up(
            db_session(),
            current_tenant,
            email=args["email"],
            password=args["password"],
            display_name=args["display_name"],
            public_url=boundary.settings().public_url,
            data_key=boundary.settings().data_key,
        )
        return {
            "email": args["email"],
            "detail": "Check your mailbox: we sent a message to this address with the next step.",
        }


@public_blp.route("/t/<tenant>/accounts/verify-email")
@public
class EmailVerification(MethodView):
    @limiter.limit(boundary.LOGIN_RATE_LIMIT)
    @public_blp.arguments(EmailTokenSchema)
    @public_blp.response(204)
    @problems(public_blp, 403, 404, 422, 429)
    def post(self, args: dict[str, Any]) -> None:
        """Confirm an email address

        With the token from the verification link (single use, valid 24 hours).
        """
        operations.verify_email(db_session(), current_tenant.id, args["token"])


@public_blp.route("/t/<tenant>/accounts/password-reset")
@public
class PasswordResetRequest(MethodView):
    @limiter.limit(boundary.SIGN_UP_RATE_LIMIT)
    @public_blp.arguments(PasswordResetRequestSchema)
    @public_blp.response(202, PasswordResetAcceptedSchema)
    @problems(public_blp, 403, 404, 422, 429)
    def post(self, args: dict[str, Any]) -> Any:
        """Ask for a password reset link

        If the address has an account, a single-use link (valid one hour) is emailed to it. The answer is the same
        either way. Rate-limited per IP; at most 3 emails per account and hour.
        """
        settings = boundary.settings()
        operations.request_password_reset(
            db_session(),
            current_tenant,
            email=args["email"],
            public_url=settings.public_url,
            data_key=settings.data_key,
        )
        return {"detail": "If an account uses this address, we sent it a link to set a new password."}


@public_blp.route("/t/<tenant>/accounts/password-reset/confirm")
@public
class PasswordReset(MethodView):
    @limiter.limit(boundary.LOGIN_RATE_LIMIT)
    @public_blp.arguments(PasswordResetSchema)
    @public_blp.response(204)
    @problems(public_blp, 403, 404, 422, 429)
    def post(self, args: dict[str, Any]) -> None:
        """Set a new password with the token from the reset link

        Single use, valid one hour. Every session of the account ends; sign in again with the new password.
        """
        operations.reset_password(db_session(), current_tenant.id, args["token"], new_password=args["password"])


@public_blp.route("/t/<tenant>/session")
@public
class SessionResource(MethodView):
    @limiter.limit(boundary.LOGIN_RATE_LIMIT)
    @public_blp.arguments(LoginSchema)
    @public_blp.response(201, SessionSchema)
    @problems(public_blp, 403, 404, 422, 429)
    @public_blp.alt_response(
        401,
        schema=ProblemSchema,
        content_type=PROBLEM_CONTENT_TYPE,
        description="login-failed (one answer for every reason) or second-factor-required (send totp_code)",
    )
    def post(self, args: dict[str, Any]) -> Any:
        """Sign in

        With email and password, plus ``totp_code`` for staff (every staff role passes a second factor).
        Sets the ``__Host-madoguchi-session`` cookie; every sign-in gets a new session and ends the one the
        client had. Staff without an authenticator yet get a session that can only set one up
        (``second_factor: enrollment_required``). Failed attempts slow further ones down (no lock): after 5
        failures for an account from one address, the next attempt from there waits 30 seconds, doubling up
        to 15 minutes; the answer is then 429 ``sign-in-throttled`` with ``Retry-After``, before the password
        is checked (see docs/identity.md for the per-account and per-address rules).
        """
        tenant, session = current_tenant, db_session()
        address = boundary.client_ip()
        with boundary.failures_recorded(tenant):
            account = operations.authenticate_password(
                session, tenant.id, email=args["email"], password=args["password"], address=address
            )
            state = boundary.second_factor_state(account, code_checked=False)
            if state == "code_required":
                if not args["totp_code"]:
                    raise operations.SecondFactorRequired()
                operations.check_totp_code(
                    session, account, args["totp_code"], sealer=boundary.sealer(), address=address
                )
                state = "done"
        row = boundary.begin_session(session, account, state=state, channel="api")
        return {
            "account": account_view(account, pending=state == "enrollment_required"),
            "second_factor": state,
            "expires_at": row.expires_at,
        }

    @public_blp.response(204)
    @problems(public_blp, 403, 404)
    def delete(self) -> None:
        """Sign out

        The session ends at once and the cookie is cleared. Without a session there is nothing to do.
        """
        found = boundary.tenant_session(current_tenant)
        if found is not None:
            row, account = found
            operations.record_logout(db_session(), account, web_session_id=row.id)
            boundary.clear_cookie_on_response()


# --- Your account ------------------------------------------------------------------------------------


@blp.route("/t/<tenant>/me")
@sessions.accepts_pending_second_factor
class Me(MethodView):
    @blp.response(200, MeSchema)
    @problems(blp, 401, 403, 404, 429)
    def get(self) -> Any:
        """Your account

        Kind, roles, identity assurance, the linked resident code, the second factor, the マイナンバーカード linked to
        the account (``card``: its provider's issuer and when it was linked; null when none) and what verified the
        account (``identity_evidence``: method, level, when).
        """
        principal = current_principal()
        if principal.account is None:
            raise Forbidden("This token acts for the municipality, not for an account.")
        account = principal.account
        session = db_session()
        link = card_operations.card_link_of(session, account.tenant_id, account.id)
        return {
            **account_view(account, pending=bool(g.get("second_factor_pending"))),
            "card": {"issuer": link.issuer, "linked_at": link.linked_at} if link is not None else None,
            "identity_evidence": [
                {"method": e.method, "level": e.level, "verified_at": e.verified_at}
                for e in card_operations.evidence_of(session, account.tenant_id, account.id)
            ],
        }


@blp.route("/t/<tenant>/me/totp")
@sessions.accepts_pending_second_factor
class TotpEnrollment(MethodView):
    @blp.response(201, TotpEnrollmentSchema)
    @problems(blp, 401, 403, 404, 409, 429)
    def post(self) -> Any:
        """Start setting up an authenticator app (staff)

        Returns the secret and its otpauth:// URI, shown once. Starting again replaces a set-up that was not
        confirmed.
        """
        principal = _signed_in(AccountKind.STAFF)
        assert principal.account is not None
        secret, uri = operations.start_totp_enrollment(
            db_session(),
            principal.account,
            sealer=boundary.sealer(),
            issuer=f"Madoguchi {current_tenant.name_en}",
        )
        return {"secret": secret, "otpauth_uri": uri}


@blp.route("/t/<tenant>/me/totp/confirm")
@sessions.accepts_pending_second_factor
class TotpConfirmation(MethodView):
    @blp.arguments(OneTimeCodeSchema)
    @blp.response(200, AccountSchema)
    @problems(blp, 401, 403, 404, 409, 422, 429)
    def post(self, args: dict[str, Any]) -> Any:
        """Confirm the authenticator app

        With a code from the app; from now on sign-in asks for a code. This session counts as having passed
        its second factor (its id changes: a new cookie is set).
        """
        principal = _signed_in(AccountKind.STAFF)
        account = principal.account
        assert account is not None
        session = db_session()
        operations.confirm_totp_enrollment(session, account, args["code"], sealer=boundary.sealer())
        boundary.finish_second_factor(session, g.web_session, account, channel="api")
        return account_view(account)


@blp.route("/t/<tenant>/me/password")
class PasswordChange(MethodView):
    @blp.arguments(PasswordChangeSchema)
    @blp.response(204)
    @problems(blp, 401, 403, 404, 422, 429)
    def post(self, args: dict[str, Any]) -> None:
        """Change your password

        Your other sessions end; this one stays.
        """
        principal = _signed_in()
        assert principal.account is not None
        operations.change_password(
            db_session(),
            principal.account,
            current_password=args["current_password"],
            new_password=args["new_password"],
            keep_session=principal.credential_id,
        )


@blp.route("/t/<tenant>/me/email-verification")
class EmailVerificationResend(MethodView):
    @limiter.limit("3/hour", key_func=lambda: _account_key())
    @blp.response(202)
    @problems(blp, 401, 403, 404, 409, 429)
    def post(self) -> None:
        """Send a new email verification link

        The earlier links stop working.
        """
        principal = _signed_in()
        assert principal.account is not None
        operations.resend_verification_email(
            db_session(),
            current_tenant,
            principal.account,
            public_url=boundary.settings().public_url,
            data_key=boundary.settings().data_key,
        )


def _account_key() -> str:
    principal = current_principal()
    return f"account:{principal.account.id if principal.account else principal.client_id}"


@blp.route("/t/<tenant>/me/identity-verification")
class IdentityLetter(MethodView):
    @limiter.limit("10/hour", key_func=_account_key)
    @blp.arguments(IdentityLetterRequestSchema)
    @blp.response(202, IdentityLetterSchema)
    @problems(blp, 401, 403, 404, 409, 422, 429)
    def post(self, args: dict[str, Any]) -> Any:
        """Ask for an identity verification letter (resident)

        Give your resident code and birth date; if they match the resident register, a one-time code (8
        characters, valid 14 days) is sent by post to the registered address. A new request replaces the
        previous code; at most 3 letters in 30 days.
        """
        principal = _signed_in(AccountKind.RESIDENT)
        assert principal.account is not None
        verification = operations.request_identity_letter(
            db_session(),
            current_tenant,
            principal.account,
            resident_code=args["resident_code"],
            birth_date=args["birth_date"],
            data_key=boundary.settings().data_key,
            actor=principal.actor.label,
        )
        return {
            "detail": "A letter with a one-time code is on its way to your registered address.",
            "expires_at": verification.expires_at,
        }


@blp.route("/t/<tenant>/me/identity-verification/confirm")
class IdentityLetterConfirmation(MethodView):
    @limiter.limit("10/hour", key_func=_account_key)
    @blp.arguments(OneTimeCodeSchema)
    @blp.response(200, AccountSchema)
    @problems(blp, 401, 403, 404, 409, 422, 429)
    def post(self, args: dict[str, Any]) -> Any:
        """Confirm the code from the letter (resident)

        Your account is linked to you in the resident register and its identity assurance becomes
        ``verified``. Five wrong codes use the letter up.
        """
        principal = _signed_in(AccountKind.RESIDENT)
        assert principal.account is not None
        with boundary.wrong_codes_counted(current_tenant.id):
            account = operations.confirm_identity_code(
                db_session(),
                principal.account,
                args["code"],
                data_key=boundary.settings().data_key,
                actor=principal.actor.label,
            )
        return account_view(account)
