"""The items of an inhabitant tax assessment (住民税の課税台帳) as a 課税・所得証明書 states them.

One list per section of the certificate, each ``(column, label)`` in the order municipalities print them: the
column is the name in ``TaxAssessment``, in the registry CSV and in the certificate's content; the label is the
certificate's wording. The register keeps 収入 (revenue) and 所得 (income after the employment or pension
deduction) apart, itemises the 所得控除, counts dependants by kind and splits each inhabitant tax into 所得割
and 均等割, because that is what 扶養認定, 保育料 and 奨学金 offices read off the certificate.

No database here: the CSV parser, the certificate's content and its PDF all read these lists.
"""

from __future__ import annotations

from datetime import date

from madoguchi.jp import fiscal_year_label_ja

#: 収入金額: what was received before the statutory deduction; only these two kinds are printed as 収入.
REVENUES: tuple[tuple[str, str], ...] = (
    ("salary_revenue", "給与収入"),
    ("pension_revenue", "公的年金等収入"),
)

#: 所得金額 by kind; their sum is 合計所得金額 (``total_income``). The first four are the register's original
#: columns (always present); the others were added with the itemised format and are empty in older files.
INCOMES: tuple[tuple[str, str], ...] = (
    ("salary_income", "給与所得"),
    ("pension_income", "雑所得（公的年金等）"),
    ("miscellaneous_income", "雑所得（その他）"),
    ("business_income", "営業等所得"),
    ("real_estate_income", "不動産所得"),
    ("dividend_income", "配当所得"),
    ("other_income", "その他の所得"),  # 一時所得, 総合譲渡所得 and the like
)
ORIGINAL_INCOMES: tuple[str, ...] = ("salary_income", "business_income", "pension_income", "other_income")
ADDED_INCOMES: tuple[str, ...] = tuple(name for name, _label in INCOMES if name not in ORIGINAL_INCOMES)

#: 所得控除, itemised; their sum is 所得控除額合計 (``deductions``).
DEDUCTIONS: tuple[tuple[str, str], ...] = (
    ("casualty_loss_deduction", "雑損控除"),
    ("medical_expense_deduction", "医療費控除"),
    ("social_insurance_deduction", "社会保険料控除"),
    ("mutual_aid_deduction", "小規模企業共済等掛金控除"),
    ("life_insurance_deduction", "生命保険料控除"),
    ("earthquake_insurance_deduction", "地震保険料控除"),
    ("disability_deduction", "障害者控除"),
    ("widow_deduction", "寡婦控除"),
    ("single_parent_deduction", "ひとり親控除"),
    ("working_student_deduction", "勤労学生控除"),
    ("spouse_deduction", "配偶者控除"),
    ("spouse_special_deduction", "配偶者特別控除"),
    ("dependent_deduction", "扶養控除"),
    ("basic_deduction", "基礎控除"),
)

#: 控除対象配偶者 and 扶養親族 by kind. 同居老親等 is a part of 老人扶養, not added to it; 年少扶養 (under 16)
#: earns no deduction but is counted (it decides the 非課税 limit and the 保育料 of a household).
DEPENDENTS: tuple[tuple[str, str], ...] = (
    ("qualifying_spouse", "控除対象配偶者"),
    ("general_dependents", "一般扶養"),
    ("specific_dependents", "特定扶養"),
    ("elderly_dependents", "老人扶養"),
    ("cohabiting_elderly_parents", "うち同居老親等"),
    ("young_dependents", "年少扶養"),
)
#: The kinds whose sum is the number of 扶養親族 (``dependents``): not the spouse, not the 同居老親等 sub-count.
DEPENDENT_KINDS_COUNTED: tuple[str, ...] = (
    "general_dependents",
    "specific_dependents",
    "elderly_dependents",
    "young_dependents",
)

#: The inhabitant taxes split into 所得割 and 均等割; each pair adds up to the register's total of that tax.
TAX_PARTS: tuple[tuple[str, str], ...] = (
    ("municipal_income_levy", "市町村民税 所得割額"),
    ("municipal_per_capita_levy", "市町村民税 均等割額"),
    ("prefectural_income_levy", "道府県民税 所得割額"),
    ("prefectural_per_capita_levy", "道府県民税 均等割額"),
)
TAX_TOTALS: dict[str, tuple[str, str]] = {
    "municipal_tax": ("municipal_income_levy", "municipal_per_capita_levy"),
    "prefectural_tax": ("prefectural_income_levy", "prefectural_per_capita_levy"),
}

#: 森林環境税 (国税, 森林環境税及び森林環境譲与税に関する法律): 1,000 yen a year, levied with the 均等割 of the
#: inhabitant tax from 令和6年度 (fiscal 2024). Until 令和5年度 the 均等割 carried instead a 500 yen 復興特別
#: surcharge each for the municipality and the prefecture (東日本大震災からの復興 … 財源確保法, 平成26-令和5年度),
#: which is part of the 均等割 amounts and never a line of its own.
FOREST_ENVIRONMENT_TAX = ("forest_environment_tax", "森林環境税")
FOREST_ENVIRONMENT_TAX_FROM = 2024
FOREST_ENVIRONMENT_TAX_YEN = 1_000


def forest_environment_tax_rule(fiscal_year: int) -> str:
    """What the 森林環境税 of ``fiscal_year`` may be, in words (for error messages)."""
    if fiscal_year < FOREST_ENVIRONMENT_TAX_FROM:
        return f"0: the forest environment tax is levied from {fiscal_year_label_ja(FOREST_ENVIRONMENT_TAX_FROM)}"
    return f"{FOREST_ENVIRONMENT_TAX_YEN} with the per-capita levy, or 0 for someone who pays no per-capita levy"


# --- What the register says of a request ------------------------------------------------------------------------

#: The short messages (English and stable: the API's per-field errors; the portal words them in the reader's
#: language from these patterns) of a tax certificate the register cannot support. Decision 0032.
NO_ASSESSMENT = "no tax assessment of fiscal year {fiscal_year} for this person in the register"
LIVED_ELSEWHERE = (
    "lived elsewhere on 1 January {fiscal_year} (resident here since {since}): the tax of fiscal year {fiscal_year} "
    "is assessed by the municipality of the address on that day; apply there"
)
TAXED_THAT_YEAR = "taxed in fiscal year {fiscal_year}: a certificate of non-taxation cannot be issued"


def latest_year_assessed_elsewhere(became_resident_on: date) -> int:
    """The newest fiscal year whose tax another municipality assessed for someone who became a resident here on
    ``became_resident_on``: the tax of a fiscal year is assessed where the person lived on 1 January of it."""
    return (
        became_resident_on.year
        if became_resident_on > date(became_resident_on.year, 1, 1)
        else (became_resident_on.year - 1)
    )


#: Every column the itemised format added to ``TaxAssessment`` (nullable: empty where a file did not itemise).
ITEMISED_COLUMNS: tuple[str, ...] = (
    *(name for name, _label in REVENUES),
    *ADDED_INCOMES,
    *(name for name, _label in DEDUCTIONS),
    *(name for name, _label in DEPENDENTS),
    *(name for name, _label in TAX_PARTS),
    FOREST_ENVIRONMENT_TAX[0],
)
