"""The verbs of identity, one module per concern; this package re-exports them, so callers write
``from madoguchi.identity import operations`` and ``operations.sign_up(...)`` whichever module holds the verb.

- ``common``: errors, normalization of emails and passwords, what the others share
- ``registration``: resident sign-up and address verification
- ``password_reset``: a forgotten password
- ``sign_in``: sign-in (throttling, second factor), sign-out, changing one's password
- ``totp_enrollment``: setting up (and resetting) an authenticator app
- ``staff``: a municipality's staff accounts
- ``identity_letters``: raising a resident's identity assurance (at the counter, or by letter)
- ``platform_admins``: platform admins and their API tokens

Every query is in ``identity.repository``. Operations flush and never commit (the request does). One exception
to "a failed request changes nothing": a failed sign-in or a wrong identity code must still count, so
``LoginFailed`` / ``WrongIdentityCode`` carry what to count, and the view records it with ``register_failed_login``
/ ``register_wrong_identity_code`` in a transaction of its own before the error is answered.
"""

from madoguchi.identity.operations.common import (
    CODE_ALPHABET,
    NOTIFY_ACCOUNT,
    NOTIFY_LETTER,
    LoginFailed,
    SecondFactorRequired,
    WrongIdentityCode,
    check_password,
    generate_password,
    get_account,
    normalize_email,
    normalize_password,
    resident_code_of,
    second_factor_required,
    security_log,
    throttle_subject,
)
from madoguchi.identity.operations.identity_letters import (
    COUNTER_ROLES,
    IDENTITY_CODE_LENGTH,
    IDENTITY_CODE_MAX_ATTEMPTS,
    IDENTITY_CODE_TTL,
    IDENTITY_LETTER_PERIOD,
    IDENTITY_LETTERS_PER_PERIOD,
    confirm_identity_code,
    link_identity_at_counter,
    new_identity_code,
    normalize_identity_code,
    open_letter_code,
    register_wrong_identity_code,
    request_identity_letter,
)
from madoguchi.identity.operations.password_reset import (
    PASSWORD_RESET_PERIOD,
    PASSWORD_RESET_TTL,
    PASSWORD_RESETS_PER_PERIOD,
    check_password_reset,
    password_reset_link,
    request_password_reset,
    reset_password,
)
from madoguchi.identity.operations.platform_admins import (
    PLATFORM_SCOPE,
    PLATFORM_TOKEN_PREFIX,
    authenticate_platform_admin,
    check_platform_totp_code,
    create_platform_admin,
    create_platform_token,
    enable_platform_totp,
    platform_admin_of_token,
    record_platform_login,
    register_failed_platform_login,
)
from madoguchi.identity.operations.registration import (
    EMAIL_VERIFICATION_TTL,
    remember_locale,
    resend_verification_email,
    send_verification_email,
    sign_up,
    verification_link,
    verify_email,
    was_verified_by,
)
from madoguchi.identity.operations.sign_in import (
    THROTTLE_NOTICE_EVERY,
    authenticate_password,
    change_password,
    check_totp_code,
    record_login,
    record_logout,
    register_failed_login,
)
from madoguchi.identity.operations.staff import (
    STAFF_ROLE_ORDER,
    create_staff,
    get_staff,
    normalize_roles,
    update_staff,
)
from madoguchi.identity.operations.totp_enrollment import (
    confirm_platform_totp_enrollment,
    confirm_totp_enrollment,
    pending_totp_secret,
    reset_totp,
    start_platform_totp_enrollment,
    start_totp_enrollment,
)
from madoguchi.identity.repository import find_account_by_email, find_person, find_platform_admin, list_staff

__all__ = [
    "CODE_ALPHABET",
    "COUNTER_ROLES",
    "EMAIL_VERIFICATION_TTL",
    "IDENTITY_CODE_LENGTH",
    "IDENTITY_CODE_MAX_ATTEMPTS",
    "IDENTITY_CODE_TTL",
    "IDENTITY_LETTERS_PER_PERIOD",
    "IDENTITY_LETTER_PERIOD",
    "NOTIFY_ACCOUNT",
    "NOTIFY_LETTER",
    "PASSWORD_RESETS_PER_PERIOD",
    "PASSWORD_RESET_PERIOD",
    "PASSWORD_RESET_TTL",
    "PLATFORM_SCOPE",
    "PLATFORM_TOKEN_PREFIX",
    "STAFF_ROLE_ORDER",
    "THROTTLE_NOTICE_EVERY",
    "LoginFailed",
    "SecondFactorRequired",
    "WrongIdentityCode",
    "authenticate_password",
    "authenticate_platform_admin",
    "change_password",
    "check_password",
    "check_password_reset",
    "check_platform_totp_code",
    "check_totp_code",
    "confirm_identity_code",
    "confirm_platform_totp_enrollment",
    "confirm_totp_enrollment",
    "create_platform_admin",
    "create_platform_token",
    "create_staff",
    "enable_platform_totp",
    "find_account_by_email",
    "find_person",
    "find_platform_admin",
    "generate_password",
    "get_account",
    "get_staff",
    "link_identity_at_counter",
    "list_staff",
    "new_identity_code",
    "normalize_email",
    "normalize_identity_code",
    "normalize_password",
    "normalize_roles",
    "open_letter_code",
    "password_reset_link",
    "pending_totp_secret",
    "platform_admin_of_token",
    "record_login",
    "record_logout",
    "record_platform_login",
    "register_failed_login",
    "register_failed_platform_login",
    "register_wrong_identity_code",
    "remember_locale",
    "request_identity_letter",
    "request_password_reset",
    "resend_verification_email",
    "reset_password",
    "reset_totp",
    "resident_code_of",
    "second_factor_required",
    "security_log",
    "send_verification_email",
    "sign_up",
    "start_platform_totp_enrollment",
    "start_totp_enrollment",
    "throttle_subject",
    "update_staff",
    "verification_link",
    "verify_email",
    "was_verified_by",
]
