"""Migration 0028 gives the people already in a register their search keys, and the downgrade takes them away again
(decision 0035): on SQLite and on PostgreSQL, where the upgrade writes rows of every tenant under forced row-level
security and the app role then finds them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from madoguchi import migrate
from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.registry import repository
from madoguchi.registry.models import Household, Person
from madoguchi.tenancy.models import Tenant
from tests.registry.test_csv_formats import resident

pytestmark = pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")


@pytest.fixture(params=["sqlite", "postgresql"])
def before(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Settings, str]:
    """An empty database of its own, migrated to 0023 (the revision before this one): (settings, owner URL)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'madoguchi.db'}"
        settings, owner_url = Settings(database_url=url, data_dir=tmp_path), url
    else:
        server = request.getfixturevalue("postgres_server")
        owner_url, app_url = server.create_database(f"search_keys_{uuid.uuid4().hex[:12]}")
        settings = Settings(database_url=app_url, migration_database_url=owner_url)
    migrate.upgrade(settings, "0023")
    return settings, owner_url


def _owner(owner_url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(owner_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


#: The columns of ``persons`` at 0023: the model's without the keys.
_OLD_PERSON = sa.table(
    "persons", *(sa.column(c.name, c.type) for c in Person.__table__.c if not c.name.endswith("_search_key"))
)


def _register_old_style(owner_url: str) -> dict[uuid.UUID, uuid.UUID]:
    """Two tenants with one person each, written as 0023 stored them; returns person id -> tenant id."""
    now, people = datetime.now(UTC), {}
    names = {"a": ("𠮷田", "ﾖｼﾀﾞ"), "b": ("葛\U000e0100西", "カサイ")}
    for connection in _owner(owner_url):
        for number, (slug, (family, kana)) in enumerate(names.items()):
            tenant_id, household_id, person_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            connection.execute(
                Tenant.__table__.insert().values(
                    id=tenant_id, slug=f"town-{slug}", name_ja=slug, name_en=slug,
                    local_government_code=f"99999{number}", prefecture_code="13", status="live",
                    default_locale="ja", profile={}, created_at=now, updated_at=now,
                )
            )  # fmt: skip
            if connection.dialect.name == "postgresql":  # row-level security is forced on the owner too
                connection.execute(sa.text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)})
            row = resident(number + 1)
            connection.execute(
                Household.__table__.insert().values(
                    id=household_id, tenant_id=tenant_id, household_code=f"H{number}", postal_code="100-0001",
                    prefecture="東京都", municipality=slug, town="中央", block="1番", updated_at=now,
                )
            )  # fmt: skip
            connection.execute(
                _OLD_PERSON.insert().values(
                    id=person_id, tenant_id=tenant_id, resident_code=row["resident_code"], household_id=household_id,
                    family_name=family, given_name="一郎", family_name_kana=kana, given_name_kana="イチロウ",
                    birth_date=date(1985, 4, 2), sex="male", relation_to_head="世帯主",
                    became_resident_on=date(2010, 4, 1), address_set_on=date(2010, 4, 1), updated_at=now,
                )
            )  # fmt: skip
            people[person_id] = tenant_id
    return people


def test_the_upgrade_gives_every_registered_person_the_keys_the_counter_searches_by(before) -> None:
    settings, owner_url = before
    people = _register_old_style(owner_url)
    migrate.upgrade(settings)
    db = Database(settings.database_url)
    try:
        found = {}
        for tenant_id in set(people.values()):
            with db.transaction(tenant_id) as session:
                for typed in ("吉田", "葛西"):
                    found[typed] = found.get(typed) or [
                        (p.family_name, p.kana_search_key)
                        for p in repository.search_people(session, tenant_id, name=typed, limit=5)
                    ]
        assert found == {"吉田": [("𠮷田", "ヨシダイチロウ")], "葛西": [("葛\U000e0100西", "カサイイチロウ")]}
    finally:
        db.dispose()
    config = migrate.alembic_config(settings.effective_migration_url, app_db_role=settings.app_db_role)
    command.downgrade(config, "0023")
    for connection in _owner(owner_url):
        columns = {c["name"] for c in sa.inspect(connection).get_columns("persons")}
        assert not columns & {"name_search_key", "kana_search_key"}
