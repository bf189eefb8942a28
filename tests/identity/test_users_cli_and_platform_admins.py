"""`madoguchi users` (staff and platform admins) and the platform admins' sign-in at /admin/login."""

from __future__ import annotations

import re

import pyotp
from click.testing import CliRunner
from sqlalchemy import func, select

from madoguchi.cli import main
from madoguchi.db import Database
from madoguchi.identity.models import Account, PlatformAdmin
from madoguchi.identity.sessions import COOKIE_NAME, PlatformPrincipal, principal_from_platform_session
from tests.identity.conftest import (
    HTTPS,
    PASSWORD,
    Clock,
    Towns,
    api,
    audit_actions,
    fresh_ip,
    login,
    post_form,
    session_token,
    staff_account,
)


def _one_time_password(output: str) -> str:
    match = re.search(r"one-time password \(shown once\): (\S+)", output)
    assert match, output
    return match.group(1)


def _accounts(db: Database, tenant) -> list[Account]:
    with db.transaction(tenant.id) as session:
        return list(session.execute(select(Account)).scalars())


def _admins(db: Database) -> list[PlatformAdmin]:
    with db.transaction() as session:
        return list(session.execute(select(PlatformAdmin)).scalars())


# --- users create ------------------------------------------------------------------------------------


def test_users_create_makes_staff_and_prints_a_one_time_password(
    runner: CliRunner, app, db: Database, towns: Towns
) -> None:
    result = runner.invoke(
        main,
        [
            "users",
            "create",
            "--tenant",
            towns.a.slug,
            "--email",
            "Clerk@Example.jp",
            "--role",
            "clerk",
            "--role",
            "supervisor",
        ],
    )
    assert result.exit_code == 0, result.output
    password = _one_time_password(result.output)
    [account] = _accounts(db, towns.a)
    assert account.email == "Clerk@example.jp" and account.roles == ["clerk", "supervisor"] and account.kind == "staff"
    assert password not in (account.password_hash or "")
    assert login(app.test_client(), towns.a, account.email, password).status_code == 201
    assert "staff.created" in [r.action for r in audit_actions(db, towns.a)]
    assert password not in str([r.data for r in audit_actions(db, towns.a)])


def test_users_create_reads_a_password_from_stdin(runner: CliRunner, app, db: Database, towns: Towns) -> None:
    result = runner.invoke(
        main,
        [
            "users",
            "create",
            "--tenant",
            towns.a.slug,
            "--email",
            "a@example.jp",
            "--role",
            "tenant_admin",
            "--password-stdin",
        ],
        input=f"{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert "one-time password" not in result.output and "authenticator" in result.output
    response = login(app.test_client(), towns.a, "a@example.jp")
    assert response.status_code == 201 and response.json["second_factor"] == "enrollment_required"


def test_users_create_refuses_bad_input_and_creates_nothing(runner: CliRunner, db: Database, towns: Towns) -> None:
    base = ["users", "create", "--tenant", towns.a.slug, "--email", "c@example.jp"]
    cases = [
        ([*base, "--role", "mayor"], None, 2, "mayor"),
        (base, None, 2, "--role"),
        (
            ["users", "create", "--tenant", "atlantis", "--email", "c@example.jp", "--role", "clerk"],
            None,
            2,
            "atlantis",
        ),
        (["users", "create", "--tenant", towns.a.slug, "--email", "nope", "--role", "clerk"], None, 2, "email"),
        ([*base, "--role", "clerk", "--password-stdin"], "password1234\n", 1, "common"),
        ([*base, "--role", "clerk", "--password-stdin"], "short\n", 1, "12"),
        ([*base, "--role", "clerk", "--password-stdin"], "", 2, "standard input"),
    ]
    for args, stdin, exit_code, words in cases:
        result = runner.invoke(main, args, input=stdin)
        assert result.exit_code == exit_code, (args, result.output)
        assert words in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert _accounts(db, towns.a) == []


def test_users_create_refuses_an_address_in_use(runner: CliRunner, db: Database, towns: Towns) -> None:
    staff_account(db, towns.a, "clerk", email="c@example.jp")
    result = runner.invoke(
        main, ["users", "create", "--tenant", towns.a.slug, "--email", "c@example.jp", "--role", "clerk"]
    )
    assert result.exit_code == 1 and "already exists" in result.output
    assert len(_accounts(db, towns.a)) == 1


def test_users_reset_totp_removes_the_authenticator_and_ends_sessions(
    runner: CliRunner, app, db: Database, towns: Towns, clock: Clock
) -> None:
    secret = pyotp.random_base32()
    clerk = staff_account(db, towns.a, "clerk", totp_secret=secret)
    client = app.test_client()
    assert login(client, towns.a, clerk.email, totp_code=clock.code(secret)).status_code == 201
    result = runner.invoke(main, ["users", "reset-totp", "--tenant", towns.a.slug, "--email", clerk.email])
    assert result.exit_code == 0, result.output
    assert client.get(api(towns.a, "/me")).status_code == 401
    again = login(app.test_client(), towns.a, clerk.email)  # set up again at the next sign-in
    assert again.status_code == 201 and again.json["second_factor"] == "enrollment_required"
    assert "totp.reset" in [r.action for r in audit_actions(db, towns.a)]
    missing = runner.invoke(main, ["users", "reset-totp", "--tenant", towns.a.slug, "--email", "nobody@example.jp"])
    assert missing.exit_code == 1 and "no staff account" in missing.output


# --- Platform admins ---------------------------------------------------------------------------------


def _admin_login(client, email: str, password: str, **kwargs):
    kwargs = kwargs or fresh_ip()
    return post_form(client, f"{HTTPS}/admin/login?lang=en", {"email": email, "password": password}, **kwargs)


def test_a_platform_admin_is_created_and_signs_in_at_admin_login_with_a_second_factor(
    runner: CliRunner, app, db: Database, towns: Towns, clock: Clock
) -> None:
    result = runner.invoke(main, ["users", "create-platform-admin", "--email", "Ops@Platform.example"])
    assert result.exit_code == 0, result.output
    password = _one_time_password(result.output)
    [admin] = _admins(db)
    assert admin.email == "Ops@platform.example" and admin.display_name == "Ops"

    client = app.test_client()
    page = client.get(f"{HTTPS}/admin/login?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in page and "Platform admin sign-in" in page
    wrong = _admin_login(client, admin.email, "not the password")
    assert wrong.status_code == 401 and "try again later" in wrong.get_data(as_text=True)
    response = _admin_login(client, admin.email, password)
    # No authenticator yet: the password alone signs in nothing; the admin sets one up first (QR code).
    assert response.status_code == 303 and response.headers["Location"].startswith("/admin/account/two-factor")
    pending = session_token(client)
    with app.test_request_context(base_url=HTTPS, headers={"Cookie": f"{COOKIE_NAME}={pending}"}):
        assert principal_from_platform_session() is None
    assert client.get(f"{HTTPS}/admin/").status_code == 303  # sent to sign in
    setup_url = f"{HTTPS}/admin/account/two-factor?lang=en"
    started = post_form(client, setup_url, {"step": "start"}, **fresh_ip())
    html = started.get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', html).group(1)
    assert '<svg role="img"' in html and "otpauth://totp/Madoguchi" in html
    done = post_form(client, setup_url, {"step": "confirm", "code": clock.code(secret)}, **fresh_ip())
    assert done.status_code == 303 and done.headers["Location"] == "/admin/?lang=en"  # platform admins land here
    token = session_token(client)
    assert token and token != pending
    with app.test_request_context(base_url=HTTPS, headers={"Cookie": f"{COOKIE_NAME}={token}"}):
        principal = principal_from_platform_session()
    assert isinstance(principal, PlatformPrincipal)
    assert principal.method == "platform" and principal.tenant_id is None and principal.account is None
    assert principal.platform_admin_id == admin.id and principal.actor.label == f"platform_admin:{admin.id}"
    # A platform session is no tenant session.
    assert client.get(api(towns.a, "/me")).status_code == 401
    signed_in_page = client.get(f"{HTTPS}/admin/login?lang=en").get_data(as_text=True)
    assert "Signed in as" in signed_in_page
    out = post_form(client, f"{HTTPS}/admin/logout", {}, form_url=f"{HTTPS}/admin/login")
    assert out.status_code == 303
    with app.test_request_context(base_url=HTTPS, headers={"Cookie": f"{COOKIE_NAME}={token}"}):
        assert principal_from_platform_session() is None
    # From now on: password, then a code.
    again = _admin_login(client, admin.email, password)
    assert again.headers["Location"].startswith("/admin/login/second-factor")


def test_a_tenant_session_is_no_platform_session(app, db: Database, towns: Towns) -> None:
    clerk = staff_account(db, towns.a, "clerk")
    client = app.test_client()
    login(client, towns.a, clerk.email)
    with app.test_request_context(base_url=HTTPS, headers={"Cookie": f"{COOKIE_NAME}={session_token(client)}"}):
        assert principal_from_platform_session() is None


def test_a_platform_admin_with_an_authenticator_passes_a_second_step(
    runner: CliRunner, app, db: Database, clock: Clock
) -> None:
    result = runner.invoke(
        main,
        ["users", "create-platform-admin", "--email", "ops@platform.example", "--password-stdin", "--totp"],
        input=f"{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    secret = re.search(r"authenticator key \(shown once\): (\S+)", result.output).group(1)
    assert "otpauth://totp/" in result.output
    client = app.test_client()
    first = _admin_login(client, "ops@platform.example", PASSWORD)
    assert first.status_code == 303 and first.headers["Location"].startswith("/admin/login/second-factor")
    token = session_token(client)
    with app.test_request_context(base_url=HTTPS, headers={"Cookie": f"{COOKIE_NAME}={token}"}):
        assert principal_from_platform_session() is None  # not before the code
    url = f"{HTTPS}/admin/login/second-factor?lang=en"
    assert post_form(client, url, {"code": "000000"}, **fresh_ip()).status_code == 401
    done = post_form(client, url, {"code": clock.code(secret)}, **fresh_ip())
    assert done.status_code == 303
    with app.test_request_context(base_url=HTTPS, headers={"Cookie": f"{COOKIE_NAME}={session_token(client)}"}):
        assert isinstance(principal_from_platform_session(), PlatformPrincipal)


def test_platform_admin_sign_in_failures_slow_down_and_never_lock(runner: CliRunner, app, db: Database, later) -> None:
    runner.invoke(
        main,
        ["users", "create-platform-admin", "--email", "ops@platform.example", "--password-stdin"],
        input=f"{PASSWORD}\n",
    )
    client = app.test_client()
    attacker = {"environ_base": {"REMOTE_ADDR": "198.51.100.77"}}
    for _ in range(5):
        assert _admin_login(client, "ops@platform.example", "wrong wrong wrong", **attacker).status_code == 401
    throttled = _admin_login(client, "ops@platform.example", PASSWORD, **attacker)
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) <= 30
    assert "1 minute" in throttled.get_data(as_text=True)
    # The admin, elsewhere, is not held up by the attacker; the attacker's wait ends too.
    assert _admin_login(app.test_client(), "ops@platform.example", PASSWORD).status_code == 303
    later(seconds=31)
    assert _admin_login(client, "ops@platform.example", "wrong wrong wrong", **attacker).status_code == 401


def test_create_platform_admin_refuses_bad_input(runner: CliRunner, db: Database) -> None:
    ok = runner.invoke(main, ["users", "create-platform-admin", "--email", "ops@platform.example"])
    assert ok.exit_code == 0
    duplicate = runner.invoke(main, ["users", "create-platform-admin", "--email", "ops@platform.example"])
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    bad_email = runner.invoke(main, ["users", "create-platform-admin", "--email", "ops"])
    assert bad_email.exit_code == 2
    weak = runner.invoke(
        main,
        ["users", "create-platform-admin", "--email", "x@platform.example", "--password-stdin"],
        input="123456789012\n",
    )
    assert weak.exit_code == 1 and "common" in weak.output
    with db.transaction() as session:
        assert session.execute(select(func.count()).select_from(PlatformAdmin)).scalar_one() == 1
