"""Linking a resident's account to the register at the counter: find the account by email, search the register,
compare side by side, confirm (audited, through identity.operations.link_identity_at_counter). Another
municipality's clerk finds neither the account nor the person."""

from __future__ import annotations

import re

from sqlalchemy import select

from madoguchi.audit.models import AuditRecord
from madoguchi.identity.models import Account, AccountKind
from madoguchi.registry.models import Person
from tests.console.conftest import HTTPS, Office, post_form
from tests.factories import make_account, make_household, make_person


def _newcomer(office: Office, email: str = "𠮷田@example.jp") -> Account:
    with office.db.transaction(office.tenant.id) as session:
        return make_account(session, office.tenant, email=email)


def _stranger(office: Office) -> Person:
    """Someone in the register with no account yet: 髙﨑 葛󠄀子 (外字 and an ideographic variation sequence)."""
    with office.db.transaction(office.tenant.id) as session:
        return make_person(
            session,
            office.tenant,
            make_household(session, office.tenant),
            family_name="髙﨑",
            given_name="葛󠄀子",
            family_name_kana="タカサキ",
            given_name_kana="カツコ",
        )


def _account(office: Office, account: Account) -> Account:
    with office.db.transaction(office.tenant.id) as session:
        return session.execute(select(Account).where(Account.id == account.id)).scalar_one()


def _confirm_url(office: Office, account: Account, person: Person, slug: str | None = None) -> str:
    return office.url(f"/identity/accounts/{account.id}/people/{person.id}", slug=slug)


def test_a_clerk_finds_the_account_searches_the_register_compares_and_links(office: Office) -> None:
    account, person = _newcomer(office), _stranger(office)
    found = office.clerk.get(office.url("/identity/?email=" + account.email.replace("@", "%40")))
    assert found.status_code == 303
    account_page = found.headers["Location"]
    assert account_page.endswith(f"/identity/accounts/{account.id}")

    results = office.clerk.get(f"{HTTPS}{account_page}?search=1&name_kana=たかさき").get_data(as_text=True)
    assert account.email in results and "未確認" in results
    choose = _confirm_url(office, account, person).removeprefix(HTTPS)
    assert f'href="{choose}"' in results and "髙﨑\u3000葛󠄀子" in results

    compare = office.clerk.get(_confirm_url(office, account, person)).get_data(as_text=True)
    assert account.email in compare and person.resident_code in compare and "髙﨑" in compare
    done = post_form(
        office.clerk,
        _confirm_url(office, account, person),
        {"checked": "true"},
        form_url=_confirm_url(office, account, person),
    )
    assert done.status_code == 303
    linked = _account(office, account)
    assert linked.is_verified and linked.person_id == person.id
    with office.db.transaction(office.tenant.id) as session:
        record = (
            session.execute(
                select(AuditRecord).where(AuditRecord.action == "identity.verified").order_by(AuditRecord.seq.desc())
            )
            .scalars()
            .first()
        )
    assert (
        record is not None
        and record.data["method"] == "counter"
        and record.actor == f"account:{office.clerk_account.id}"
    )
    page = office.clerk.get(f"{HTTPS}{done.headers['Location']}").get_data(as_text=True)
    assert "本人確認済み" in page and person.resident_code in page


def test_an_unknown_or_malformed_address_is_an_error_beside_the_field(office: Office) -> None:
    cases = (("nobody@example.jp", "住民アカウントはありません"), ("not-an-address", "形式が正しくありません"))
    for email, message in cases:
        answer = office.clerk.get(office.url(f"/identity/?email={email}"))
        assert answer.status_code == 422
        html = answer.get_data(as_text=True)
        assert 'id="email-error"' in html and message in html
    # A staff address is not a resident's account either.
    answer = office.clerk.get(office.url("/identity/?email=" + office.clerk_account.email.replace("@", "%40")))
    assert answer.status_code == 422
    assert office.clerk.get(office.url(f"/identity/accounts/{office.clerk_account.id}")).status_code == 404


def test_linking_needs_the_document_check_and_a_bad_search_shows_errors_beside_the_fields(office: Office) -> None:
    account, person = _newcomer(office), _stranger(office)
    unchecked = post_form(
        office.clerk, _confirm_url(office, account, person), {}, form_url=_confirm_url(office, account, person)
    )
    assert unchecked.status_code == 422 and 'id="checked-error"' in unchecked.get_data(as_text=True)
    assert not _account(office, account).is_verified
    search = office.clerk.get(office.url(f"/identity/accounts/{account.id}?search=1&resident_code=123"))
    assert search.status_code == 422 and 'id="resident_code-error"' in search.get_data(as_text=True)


def test_a_person_linked_to_another_account_is_refused_and_nothing_changes(office: Office) -> None:
    account = _newcomer(office)
    taken = office.parent  # the office's resident account is linked to the parent
    refused = post_form(
        office.clerk,
        _confirm_url(office, account, taken),
        {"checked": "true"},
        form_url=_confirm_url(office, account, taken),
    )
    assert refused.status_code == 409
    assert "すでに別のアカウント" in refused.get_data(as_text=True)
    assert not _account(office, account).is_verified


def test_a_tenant_admin_without_a_counter_role_may_not_link(office: Office, sign_in) -> None:
    account, person = _newcomer(office), _stranger(office)
    with office.db.transaction(office.tenant.id) as session:
        admin = make_account(session, office.tenant, kind=AccountKind.STAFF, roles=["tenant_admin"])
    client = sign_in(admin)
    url = _confirm_url(office, account, person)
    assert post_form(client, url, {"checked": "true"}, form_url=url).status_code == 403
    assert not _account(office, account).is_verified


def test_residents_cannot_open_the_page(office: Office) -> None:
    assert office.resident.get(office.url("/identity/")).status_code in (302, 303, 403, 404)


def test_another_municipalitys_clerk_gets_404_for_the_account_and_the_person(office: Office) -> None:
    account, person = _newcomer(office), _stranger(office)
    other = office.other.slug
    with office.db.transaction(office.other.id) as session:
        own_account = make_account(session, office.other, email="own@example.jp")
        own_person = make_person(session, office.other, make_household(session, office.other))
    foreign = office.foreign_clerk
    assert foreign.get(office.url(f"/identity/accounts/{account.id}", slug=other)).status_code == 404
    assert foreign.get(_confirm_url(office, account, own_person, slug=other)).status_code == 404
    assert foreign.get(_confirm_url(office, own_account, person, slug=other)).status_code == 404
    by_email = foreign.get(office.url("/identity/?email=" + account.email.replace("@", "%40"), slug=other))
    assert by_email.status_code == 422  # the address is unknown there
    token_page = office.url("/identity/", slug=other)
    posted = post_form(
        foreign, _confirm_url(office, own_account, person, slug=other), {"checked": "true"}, form_url=token_page
    )
    assert posted.status_code == 404
    # The register search on the own account page never lists the other municipality's people.
    found = foreign.get(office.url(f"/identity/accounts/{own_account.id}?search=1&name_kana=タカサキ", slug=other))
    assert "髙﨑" not in found.get_data(as_text=True)
    assert not _account(office, account).is_verified


def test_the_console_navigation_leads_to_the_page(office: Office) -> None:
    queue = office.clerk.get(office.url("/")).get_data(as_text=True)
    assert re.search(r'href="/midorikawa-village/console/identity/"[^>]*>窓口での本人確認<', queue)
