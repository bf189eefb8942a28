"""Back-office registries: the resident register, tax assessments and childcare facilities.

These are what make once-only real: forms are prefilled from them and certificates are issued from
them, never from what an applicant typed. References between registry rows are composite foreign
keys ``(tenant_id, id)``, so a row can never point at another tenant's row, even through a bug.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, LargeBinary, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from madoguchi import jp
from madoguchi.db import Base, TenantScoped, new_id, utcnow

#: A search key: compared in code-point order (PostgreSQL's "C" collation, SQLite's default), so the keys that begin
#: with a query are one range of the index whatever the database's locale.
SEARCH_KEY_LENGTH = 200
SEARCH_KEY = String(SEARCH_KEY_LENGTH).with_variant(String(SEARCH_KEY_LENGTH, collation="C"), "postgresql")


class Household(TenantScoped, Base):
    """A household (世帯) and its address; members share it."""

    __tablename__ = "households"
    __table_args__ = (UniqueConstraint("tenant_id", "id"), UniqueConstraint("tenant_id", "household_code"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    household_code: Mapped[str] = mapped_column(String(20))
    postal_code: Mapped[str] = mapped_column(String(8))
    prefecture: Mapped[str] = mapped_column(String(10))
    municipality: Mapped[str] = mapped_column(String(50))
    town: Mapped[str] = mapped_column(String(100))
    block: Mapped[str] = mapped_column(String(50))
    building: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    members: Mapped[list[Person]] = relationship(
        back_populates="household", order_by="Person.resident_code", overlaps="household"
    )

    @property
    def address(self) -> str:
        return "".join(part for part in (self.prefecture, self.municipality, self.town, self.block) if part) + (
            f" {self.building}" if self.building else ""
        )

    @property
    def head(self) -> Person | None:
        return next((m for m in self.members if m.relation_to_head == HEAD_OF_HOUSEHOLD), None)


#: 続柄 of the head of household.
HEAD_OF_HOUSEHOLD = "世帯主"


class Person(TenantScoped, Base):
    """A person in the resident register (住民基本台帳), with the items of 住民基本台帳法 §7."""

    __tablename__ = "persons"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "resident_code"),
        ForeignKeyConstraint(["tenant_id", "household_id"], ["households.tenant_id", "households.id"]),
        Index("ix_persons_tenant_kana", "tenant_id", "family_name_kana", "given_name_kana"),
        Index("ix_persons_tenant_name_search_key", "tenant_id", "name_search_key"),
        Index("ix_persons_tenant_kana_search_key", "tenant_id", "kana_search_key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    #: 住民票コード, 11 digits.
    resident_code: Mapped[str] = mapped_column(String(11))
    household_id: Mapped[uuid.UUID]
    # Names are stored exactly as registered (外字 and variation sequences included): never normalized.
    family_name: Mapped[str] = mapped_column(String(100))
    given_name: Mapped[str] = mapped_column(String(100))
    family_name_kana: Mapped[str] = mapped_column(String(100))
    given_name_kana: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date]
    sex: Mapped[str] = mapped_column(String(10))
    #: 続柄 to the head of household.
    relation_to_head: Mapped[str] = mapped_column(String(20))
    became_resident_on: Mapped[date]
    address_set_on: Mapped[date]
    notified_on: Mapped[date | None]
    previous_address: Mapped[str | None] = mapped_column(String(300))
    #: 本籍 and 筆頭者.
    domicile: Mapped[str | None] = mapped_column(String(300))
    domicile_head: Mapped[str | None] = mapped_column(String(100))
    #: 個人番号, encrypted with the platform data key (madoguchi.crypto); never logged, never in an API.
    individual_number_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: Family + given name and reading folded for the counter's search (jp.name_search_key, jp.kana_search_key):
    #: matching only, never shown. Set from the names on every insert and update (below), decision 0035.
    name_search_key: Mapped[str] = mapped_column(SEARCH_KEY, default="")
    kana_search_key: Mapped[str] = mapped_column(SEARCH_KEY, default="")

    household: Mapped[Household] = relationship(back_populates="members", overlaps="members")

    def refresh_search_keys(self) -> None:
        keys = search_keys(self.family_name, self.given_name, self.family_name_kana, self.given_name_kana)
        self.name_search_key, self.kana_search_key = keys["name_search_key"], keys["kana_search_key"]

    @property
    def full_name(self) -> str:
        return f"{self.family_name}　{self.given_name}"

    @property
    def full_name_kana(self) -> str:
        return f"{self.family_name_kana}　{self.given_name_kana}"

    @property
    def address(self) -> str:
        return self.household.address

    @property
    def postal_code(self) -> str:
        return self.household.postal_code

    def registry_fields(self) -> dict[str, Any]:
        """The values the catalog's prefill mappings may name (``person.*`` and ``household.*``)."""
        head = self.household.head
        return {
            "person.full_name": self.full_name,
            "person.full_name_kana": self.full_name_kana,
            "person.family_name": self.family_name,
            "person.given_name": self.given_name,
            "person.family_name_kana": self.family_name_kana,
            "person.given_name_kana": self.given_name_kana,
            "person.birth_date": self.birth_date.isoformat(),
            "person.sex": self.sex,
            "person.postal_code": self.postal_code,
            "person.address": self.address,
            "person.resident_code": self.resident_code,
            "household.head_name": head.full_name if head else None,
        }


def search_keys(
    family_name: str | None, given_name: str | None, family_name_kana: str | None, given_name_kana: str | None
) -> dict[str, str]:
    """The ``persons`` search-key columns for these names: what the model writes, and what a tenant import writes
    for rows an archive brings (derived data: recomputed by this installation's folding, never trusted)."""
    name = jp.name_search_key(f"{family_name or ''}{given_name or ''}")
    kana = jp.kana_search_key(f"{family_name_kana or ''}{given_name_kana or ''}")
    # NFKC may lengthen a name (㍻ -> 平成); a key longer than its column only loses what no query reaches.
    return {"name_search_key": name[:SEARCH_KEY_LENGTH], "kana_search_key": kana[:SEARCH_KEY_LENGTH]}


@event.listens_for(Person, "before_insert")
@event.listens_for(Person, "before_update")
def _keep_search_keys(_mapper: object, _connection: object, person: Person) -> None:
    # Every write of a person through the ORM (import, counter, tests) keeps the keys in step with the names.
    person.refresh_search_keys()


class TaxAssessment(TenantScoped, Base):
    """Inhabitant tax (住民税) assessed for one person and fiscal year (income of the year before)."""

    __tablename__ = "tax_assessments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "person_id", "fiscal_year"),
        ForeignKeyConstraint(["tenant_id", "person_id"], ["persons.tenant_id", "persons.id"]),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID]
    fiscal_year: Mapped[int]
    address_on_jan1: Mapped[str] = mapped_column(String(300))
    salary_income: Mapped[int]
    business_income: Mapped[int]
    pension_income: Mapped[int]
    other_income: Mapped[int]
    total_income: Mapped[int]
    deductions: Mapped[int]
    taxable_income: Mapped[int]
    municipal_tax: Mapped[int]
    prefectural_tax: Mapped[int]
    dependents: Mapped[int]
    non_taxable: Mapped[bool]

    person: Mapped[Person] = relationship()


class Facility(TenantScoped, Base):
    """A childcare facility (保育所, 認定こども園, 小規模保育) and its capacity per age class."""

    __tablename__ = "facilities"
    __table_args__ = (UniqueConstraint("tenant_id", "facility_code"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    facility_code: Mapped[str] = mapped_column(String(20))
    name_ja: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    postal_code: Mapped[str] = mapped_column(String(8))
    address: Mapped[str] = mapped_column(String(300))
    #: {"0": places, ..., "5": places} by age class (年齢区分).
    capacity_by_age: Mapped[dict[str, Any]]
    accepts_short_hours: Mapped[bool]
