"""The published datasets' columns: name, Frictionless type, unit and definition, in the order of the CSV.

This is the single definition the CSV and JSON files, ``datapackage.json``, the JSON API and the charts read. A
change to what a column means raises ``DEFINITION_VERSION``; published months keep the version they were made with.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The version of the KPI definitions (what is counted, how, with which suppression rule).
DEFINITION_VERSION = "1.0"

#: Counts 1..9 are published empty; rates, medians and percentiles are null when their denominator is below this.
SUPPRESSION_THRESHOLD = 10


@dataclass(frozen=True)
class Column:
    name: str
    #: Frictionless Table Schema type: string, integer, number, boolean, date, datetime, array
    type: str
    description_ja: str
    description_en: str
    #: the unit of a number ("count", "ratio 0..1", "days", "JPY", "per 1,000 residents"), or ""
    unit: str = ""
    #: True for a count that small-count suppression applies to (1..9 published empty)
    suppressible_count: bool = False
    #: for a rate, median or percentile: the column whose value must be ≥ the threshold for it to be published
    denominator: str | None = None


#: The ``procedure_key`` of the row that sums every procedure of a municipality (or of the country).
TOTAL_KEY = "_total"

PROCEDURE_KPIS = "procedure-kpis"
CATALOG_ADOPTION = "catalog-adoption"
CHILDCARE_ROUND_RESULTS = "childcare-round-results"
DATASETS = (PROCEDURE_KPIS, CATALOG_ADOPTION, CHILDCARE_ROUND_RESULTS)

_C = Column
PROCEDURE_KPI_COLUMNS: tuple[Column, ...] = (
    _C("period", "string", "対象月（日本時間、YYYY-MM）", "Month (JST, YYYY-MM)"),
    _C(
        "lg_code",
        "string",
        "全国地方公共団体コード（6桁、検査数字付き）",
        "Local government code (6 digits with check digit)",
    ),
    _C("municipality", "string", "団体名", "Municipality"),
    _C("prefecture", "string", "都道府県名", "Prefecture"),
    _C("procedure_key", "string", "手続きのキー", "Procedure key"),
    _C("procedure_version", "string", "標準の版", "Version of the standard"),
    _C("national_procedure_id", "string", "国の重点手続の番号（ある場合）", "National priority procedure id, if any"),
    _C("population", "integer", "住民基本台帳人口（1月1日）", "Registered population (January 1)", "persons"),
    _C("started_online", "integer", "オンラインで開始された件数", "Started online", "count", True),
    _C("submitted_online", "integer", "オンラインで申請された件数", "Submitted online", "count", True),
    _C("submitted_api", "integer", "民間アプリから申請された件数", "Submitted through an app (API)", "count", True),
    _C("submitted_counter", "integer", "窓口で受け付けた件数", "Filed at the counter", "count", True),
    _C("submitted_total", "integer", "申請件数の合計", "Submitted, all channels", "count", True),
    _C(
        "completion_rate", "number", "オンライン完了率", "Online completion rate", "ratio 0..1", False, "started_online"
    ),
    _C("digital_take_up", "number", "デジタル利用率", "Digital take-up", "ratio 0..1", False, "submitted_total"),
    _C("decided", "integer", "決定件数", "Decided", "count", True),
    _C("decided_within_sla", "integer", "標準処理期間内の決定件数", "Decided within the standard time", "count", True),
    _C(
        "median_days_to_decision",
        "number",
        "決定までの日数（中央値）",
        "Days to decision (median)",
        "days",
        False,
        "decided",
    ),
    _C(
        "p90_days_to_decision",
        "number",
        "決定までの日数（90パーセンタイル）",
        "Days to decision (90th percentile)",
        "days",
        False,
        "decided",
    ),
    _C(
        "correction_requested_rate",
        "number",
        "補正を求めた割合",
        "Share asked for a correction",
        "ratio 0..1",
        False,
        "submitted_total",
    ),
    _C("withdrawn", "integer", "取下げ件数", "Withdrawn", "count", True),
    _C("satisfaction_responses", "integer", "満足度の回答数", "Satisfaction answers", "count", True),
    _C(
        "satisfaction_score",
        "number",
        "満足・やや満足の割合",
        "Share satisfied or very satisfied",
        "ratio 0..1",
        False,
        "satisfaction_responses",
    ),
    _C("fees_collected_jpy", "integer", "徴収した手数料", "Fees collected", "JPY"),
    _C("cost_per_transaction_jpy", "number", "1件あたりの費用（団体申告）", "Cost per transaction (declared)", "JPY"),
    _C(
        "per_1000_residents",
        "number",
        "住民1,000人あたりの申請件数",
        "Submissions per 1,000 residents",
        "per 1,000 residents",
    ),
    _C("suppressed", "array", "秘匿した列", "Columns suppressed"),
    _C("definition_version", "string", "定義の版", "Definition version"),
    _C("generated_at", "datetime", "作成日時", "Generated at"),
)

CATALOG_ADOPTION_COLUMNS: tuple[Column, ...] = (
    _C("period", "string", "対象月（日本時間、YYYY-MM）", "Month (JST, YYYY-MM)"),
    _C("lg_code", "string", "全国地方公共団体コード", "Local government code"),
    _C("municipality", "string", "団体名", "Municipality"),
    _C("prefecture", "string", "都道府県名", "Prefecture"),
    _C("procedure_key", "string", "手続きのキー", "Procedure key"),
    _C("procedure_version", "string", "標準の版", "Version of the standard"),
    _C("offered_online", "boolean", "オンラインで提供", "Offered online"),
    _C("online_since", "date", "提供開始日", "Offered online since"),
    _C("fee_jpy", "integer", "手数料", "Fee", "JPY"),
    _C("sla_days", "integer", "標準処理期間", "Standard processing time", "days"),
    _C("definition_version", "string", "定義の版", "Definition version"),
    _C("generated_at", "datetime", "作成日時", "Generated at"),
)

#: The ``facility_code`` of the row that sums a round (its classes, and its children's outcomes).
ROUND_TOTAL_KEY = "_total"

CHILDCARE_ROUND_COLUMNS: tuple[Column, ...] = (
    _C("period", "string", "結果を決定した月（日本時間、YYYY-MM）", "Month the results were published (JST, YYYY-MM)"),
    _C("lg_code", "string", "全国地方公共団体コード", "Local government code"),
    _C("municipality", "string", "団体名", "Municipality"),
    _C("prefecture", "string", "都道府県名", "Prefecture"),
    _C("round_id", "string", "利用調整回の識別子", "Allocation round id"),
    _C("round_label", "string", "利用調整回の名称", "Allocation round"),
    _C("intake_month", "string", "入所月（YYYY-MM）", "Intake month (YYYY-MM)"),
    _C("round_kind", "string", "回の種類（first 4月一次、second 二次、monthly 途中入所）", "Kind of round"),
    _C("facility_code", "string", "施設コード（_total は回の合計）", "Facility code (_total: the whole round)"),
    _C("age_class", "integer", "年齢クラス（0〜5歳児）", "Age class (0 to 5)"),
    _C("seats", "integer", "募集人数", "Seats offered", "count"),
    _C(
        "applicants_listing",
        "integer",
        "この施設・クラスを希望した児童数（順位を問わない）",
        "Children who listed the class (any rank)",
        "count",
        True,
    ),
    _C(
        "placed",
        "integer",
        "この施設・クラスの席を得た児童数（内定、転園で現園に残る児童を含む）",
        "Children holding a seat of the class after the round (placed, and transfers who keep their seat)",
        "count",
        True,
    ),
    _C("placed_first_choice", "integer", "第1希望で内定した児童数", "Placed at their first choice", "count", True),
    _C(
        "waitlisted",
        "integer",
        "希望したが内定しなかった、またはより低い希望で内定した児童数",
        "Listed the class and were not placed there nor at a higher choice",
        "count",
        True,
    ),
    _C(
        "lowest_placed_score",
        "integer",
        "内定した児童の最低指数（団体が公表を選んだ場合、内定3人以上のとき）",
        "Lowest score placed (if the municipality publishes it, and 3 or more placed)",
        "points",
    ),
    _C(
        "applicants", "integer", "回の申込児童数（合計行のみ）", "Children in the round (total row only)", "count", True
    ),
    _C(
        "not_placed",
        "integer",
        "保留となった児童数（合計行のみ）",
        "Children not placed, 保留 (total row only)",
        "count",
        True,
    ),
    _C("suppressed", "array", "秘匿した列", "Columns suppressed"),
    _C("definition_version", "string", "定義の版", "Definition version"),
    _C("generated_at", "datetime", "作成日時", "Generated at"),
)

COLUMNS: dict[str, tuple[Column, ...]] = {
    PROCEDURE_KPIS: PROCEDURE_KPI_COLUMNS,
    CATALOG_ADOPTION: CATALOG_ADOPTION_COLUMNS,
    CHILDCARE_ROUND_RESULTS: CHILDCARE_ROUND_COLUMNS,
}
