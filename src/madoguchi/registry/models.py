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
        return format_address(self.prefecture, self.municipality, self.town, self.block, self.building)

    @property
    def residents(self) -> list[Person]:
        """The members still in the register: a removed member (除票) is no longer part of the household."""
        return [m for m in self.members if m.removed_on is None]

    @property
    def head(self) -> Person | None:
        # A removed head (died, moved out) keeps 世帯主 on their 除票; the household's head is a current one.
        return next((m for m in self.residents if m.relation_to_head == HEAD_OF_HOUSEHOLD), None)


def format_address(prefecture: str, municipality: str, town: str, block: str, building: str | None) -> str:
    """An address as certificates print it: 東京都千代田区千代田一丁目1番1号 and the building after a space."""
    return "".join(part for part in (prefecture, municipality, town, block) if part) + (
        f" {building}" if building else ""
    )


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
    #: 旧氏 and its reading (住民基本台帳法施行令30条の13): printed beside the name wherever the name is.
    former_surname: Mapped[str | None] = mapped_column(String(100))
    former_surname_kana: Mapped[str | None] = mapped_column(String(100))
    #: 除票: the day the record was removed (消除), why (REMOVAL_REASONS) and, for 転出, where to (転出先).
    removed_on: Mapped[date | None]
    removal_reason: Mapped[str | None] = mapped_column(String(10))
    moved_out_to: Mapped[str | None] = mapped_column(String(300))
    #: A removed person's address when they were removed: the 除票 states it even after the household moved on.
    address_at_removal: Mapped[str | None] = mapped_column(String(300))
    #: 外国人住民 (住民基本台帳法30条の45): the 区分 (FOREIGN_RESIDENT_CATEGORIES) marks a foreign resident, who
    #: has 国籍・地域 and the 区分's items instead of 本籍・筆頭者; 通称 and its reading where registered.
    foreign_resident_category: Mapped[str | None] = mapped_column(String(20))
    nationality: Mapped[str | None] = mapped_column(String(100))
    residence_status: Mapped[str | None] = mapped_column(String(40))
    #: 在留期間 (or the 上陸期間 / 仮滞在期間 of those permits) as written, e.g. 3年, 1年6月, 無期限.
    period_of_stay: Mapped[str | None] = mapped_column(String(40))
    period_of_stay_ends_on: Mapped[date | None]
    #: 在留カード or 特別永住者証明書 number (two letters, eight digits, two letters).
    residence_card_number: Mapped[str | None] = mapped_column(String(12))
    alias: Mapped[str | None] = mapped_column(String(100))
    alias_kana: Mapped[str | None] = mapped_column(String(100))
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
    def is_removed(self) -> bool:
        return self.removed_on is not None

    @property
    def is_foreign_resident(self) -> bool:
        return self.foreign_resident_category is not None

    @property
    def address(self) -> str:
        return (self.is_removed and self.address_at_removal) or self.household.address

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
    # The itemised items (registry.tax_items; migration 0025). None where the municipality's file did not
    # itemise them (a file of the original format): the certificate then states the totals above only.
    salary_revenue: Mapped[int | None]  # 給与収入
    pension_revenue: Mapped[int | None]  # 公的年金等収入
    miscellaneous_income: Mapped[int | None]  # 雑所得（その他）
    real_estate_income: Mapped[int | None]  # 不動産所得
    dividend_income: Mapped[int | None]  # 配当所得
    casualty_loss_deduction: Mapped[int | None]  # 雑損控除
    medical_expense_deduction: Mapped[int | None]  # 医療費控除
    social_insurance_deduction: Mapped[int | None]  # 社会保険料控除
    mutual_aid_deduction: Mapped[int | None]  # 小規模企業共済等掛金控除
    life_insurance_deduction: Mapped[int | None]  # 生命保険料控除
    earthquake_insurance_deduction: Mapped[int | None]  # 地震保険料控除
    disability_deduction: Mapped[int | None]  # 障害者控除
    widow_deduction: Mapped[int | None]  # 寡婦控除
    single_parent_deduction: Mapped[int | None]  # ひとり親控除
    working_student_deduction: Mapped[int | None]  # 勤労学生控除
    spouse_deduction: Mapped[int | None]  # 配偶者控除
    spouse_special_deduction: Mapped[int | None]  # 配偶者特別控除
    dependent_deduction: Mapped[int | None]  # 扶養控除
    basic_deduction: Mapped[int | None]  # 基礎控除
    qualifying_spouse: Mapped[int | None]  # 控除対象配偶者 (0 or 1)
    general_dependents: Mapped[int | None]  # 一般扶養
    specific_dependents: Mapped[int | None]  # 特定扶養 (19-22)
    elderly_dependents: Mapped[int | None]  # 老人扶養 (70+)
    cohabiting_elderly_parents: Mapped[int | None]  # うち同居老親等
    young_dependents: Mapped[int | None]  # 年少扶養 (under 16: counted, no deduction)
    municipal_income_levy: Mapped[int | None]  # 市町村民税 所得割
    municipal_per_capita_levy: Mapped[int | None]  # 市町村民税 均等割
    prefectural_income_levy: Mapped[int | None]  # 道府県民税 所得割
    prefectural_per_capita_levy: Mapped[int | None]  # 道府県民税 均等割
    forest_environment_tax: Mapped[int | None]  # 森林環境税 (国税, from fiscal 2024)

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
