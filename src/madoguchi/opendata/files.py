"""The published files: CSV, JSON, a Frictionless ``datapackage.json`` and a DCAT (JSON-LD) catalog record.

Every file is built from stored published rows only, in a fixed order with fixed formatting, so the same months
give the same bytes (a strong ETag is the SHA-256 of them).

CSV: UTF-8 **without a byte order mark**, RFC 4180 (CRLF, quotes where needed), a header row of the column names.
No BOM because the files are read by programs first (CKAN's DataStore, Frictionless, pandas, R, the national
catalog's harvesters): with a BOM the first column's name arrives as ``\\ufeffperiod`` in several of them and
no longer matches the schema. Spreadsheet users are pointed to Excel's "From Text/CSV" import in docs/open-data.md.
Empty cells are nulls (suppressed or not applicable); ``suppressed`` is a JSON array (Table Schema ``array``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

from madoguchi.opendata.columns import (
    CATALOG_ADOPTION,
    CHILDCARE_ROUND_RESULTS,
    COLUMNS,
    DEFINITION_VERSION,
    PROCEDURE_KPIS,
    SUPPRESSION_THRESHOLD,
    Column,
)

PDL = {
    "name": "PDL-1.0",
    "title": "公共データ利用規約（第1.0版） / Public Data License (Version 1.0)",
    "path": "https://www.digital.go.jp/resources/open_data/public_data_license_v1.0",
}
CC_BY = {
    "name": "CC-BY-4.0",
    "title": "Creative Commons Attribution 4.0 International",
    "path": "https://creativecommons.org/licenses/by/4.0/",
}
LICENSES = {"PDL-1.0": PDL, "CC-BY-4.0": CC_BY}
COMPATIBILITY_NOTE = (
    "公共データ利用規約（第1.0版）は、クリエイティブ・コモンズ 表示 4.0 国際（CC BY 4.0）と互換性があります。"
    "本データは CC BY 4.0 に従って利用することもできます。 / PDL 1.0 is compatible with CC BY 4.0: this data may"
    " also be used under the terms of CC BY 4.0."
)
TITLES = {
    PROCEDURE_KPIS: ("手続別の利用指標（月次）", "Procedure KPIs (monthly)"),
    CATALOG_ADOPTION: ("オンライン手続の提供状況（月次）", "Procedures offered online (monthly)"),
    CHILDCARE_ROUND_RESULTS: ("保育所等利用調整の結果（月次）", "Childcare allocation round results (monthly)"),
}


@dataclass(frozen=True)
class Publisher:
    """Who publishes a package: a municipality (``slug`` and ``lg_code``) or the platform's country aggregate."""

    name: str
    slug: str | None
    lg_code: str | None
    license: str
    attribution: str

    @property
    def national(self) -> bool:
        return self.slug is None


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() else repr(value)
    return str(value)


def to_csv(dataset: str, rows: list[dict[str, Any]]) -> bytes:
    names = [c.name for c in COLUMNS[dataset]]
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in names])
    return out.getvalue().encode("utf-8")


def _license_block(publisher: Publisher) -> dict[str, Any]:
    chosen = LICENSES[publisher.license]
    block: dict[str, Any] = {**chosen}
    if publisher.license == "PDL-1.0":
        block["compatibility"] = COMPATIBILITY_NOTE
    return block


def to_json(dataset: str, rows: list[dict[str, Any]], publisher: Publisher) -> bytes:
    ja, en = TITLES[dataset]
    document = {
        "dataset": dataset,
        "title": {"ja": ja, "en": en},
        "publisher": publisher.name,
        "license": _license_block(publisher),
        "attribution": publisher.attribution,
        "definition_version": DEFINITION_VERSION,
        "suppression_threshold": SUPPRESSION_THRESHOLD,
        "columns": [_field(column) for column in COLUMNS[dataset]],
        "rows": rows,
    }
    return (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def _field(column: Column) -> dict[str, Any]:
    field: dict[str, Any] = {
        "name": column.name,
        "type": column.type,
        "title": column.description_ja,
        "description": column.description_en,
    }
    if column.unit:
        field["unit"] = column.unit
    if column.denominator:
        field["denominator"] = column.denominator
        field["description"] += f" (empty when {column.denominator} is below {SUPPRESSION_THRESHOLD} or suppressed)"
    if column.suppressible_count:
        field["description"] += f" (1 to {SUPPRESSION_THRESHOLD - 1}: empty, listed in suppressed)"
        field["constraints"] = {"minimum": 0}
    if column.type == "array":
        field["arrayItem"] = {"type": "string"}
    if column.name == "lg_code":
        field["constraints"] = {"pattern": "[0-9]{6}"}
    if column.name == "period":
        field["constraints"] = {"pattern": "[0-9]{4}-(0[1-9]|1[0-2])"}
    return field


def _schema(dataset: str, national: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {"fields": [_field(c) for c in COLUMNS[dataset]], "missingValues": [""]}
    if dataset == CHILDCARE_ROUND_RESULTS:
        # A round's _total row has no age class, and a primary key may not have an empty field: the unique key is
        # (round_id, facility_code, age_class), checked by the tests rather than declared.
        return schema
    if not (national and dataset == PROCEDURE_KPIS):
        schema["primaryKey"] = ["period", "lg_code", "procedure_key"]
    # The country's procedure-kpis file has the municipalities' rows and then the country's, which have no code: a
    # row is still identified by (period, lg_code, procedure_key), but a primary key may not have an empty field.
    return schema


def datapackage(publisher: Publisher, files: dict[str, bytes], *, prefix: str, created: str | None) -> bytes:
    """The Frictionless Data Package describing ``files`` (dataset → CSV bytes), whose paths are relative to the
    package (``prefix`` is ``""`` for every month's files, ``"YYYY-MM/"`` for one month's)."""
    name = "madoguchi-national-kpis" if publisher.national else f"madoguchi-{publisher.slug}-kpis"
    resources = []
    for dataset, body in files.items():
        ja, en = TITLES[dataset]
        resources.append(
            {
                "name": dataset,
                "title": f"{ja} / {en}",
                "path": f"{prefix}{dataset}.csv",
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "bytes": len(body),
                "hash": f"sha256:{hashlib.sha256(body).hexdigest()}",
                "dialect": {"delimiter": ",", "lineTerminator": "\r\n", "quoteChar": '"', "header": True},
                "schema": _schema(dataset, publisher.national),
                "licenses": [_license_block(publisher)],
            }
        )
    package: dict[str, Any] = {
        "profile": "tabular-data-package",
        "name": name,
        "title": f"{publisher.name} 行政手続オープンデータ / Procedure open data",
        "description": (
            "月次の行政手続の利用指標（オンライン申請数、デジタル利用率、処理日数、満足度、手数料）、オンライン"
            "手続の提供状況と保育所等利用調整の結果。1〜9件は秘匿（空欄）し suppressed に列名を記載。 / Monthly"
            " procedure KPIs, the procedures offered online and childcare allocation round results; counts of 1 to 9"
            " are left empty and named in `suppressed`."
        ),
        "licenses": [_license_block(publisher)],
        "attribution": publisher.attribution,
        "definition_version": DEFINITION_VERSION,
        "suppression_threshold": SUPPRESSION_THRESHOLD,
        "keywords": ["行政手続", "オンライン化", "KPI", "オープンデータ", "自治体標準オープンデータセット"],
        "sources": [{"title": "Madoguchi (municipal procedures platform)"}],
        "resources": resources,
    }
    if created:
        package["created"] = created
    if not publisher.national:
        package["publisher"] = {"name": publisher.name, "lg_code": publisher.lg_code}
    return (json.dumps(package, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def dcat(publisher: Publisher, datasets: list[str], *, base_url: str, modified: str | None) -> bytes:
    """A DCAT (DCAT-AP style) catalog record in JSON-LD: what CKAN's ckanext-dcat harvests (``dcat:Catalog`` with one
    ``dcat:Dataset`` per dataset and a CSV and a JSON ``dcat:Distribution`` each). ``base_url`` ends in a slash."""
    chosen = LICENSES[publisher.license]
    graph = []
    for dataset in datasets:
        ja, en = TITLES[dataset]
        graph.append(
            {
                "@id": f"{base_url}{dataset}",
                "@type": "dcat:Dataset",
                "dct:identifier": f"{publisher.slug or 'national'}-{dataset}",
                "dct:title": [{"@language": "ja", "@value": ja}, {"@language": "en", "@value": en}],
                "dct:publisher": {"@type": "foaf:Agent", "foaf:name": publisher.name},
                "dct:license": {"@id": chosen["path"]},
                "dct:rights": publisher.attribution,
                "dct:accrualPeriodicity": {"@id": "http://purl.org/cld/freq/monthly"},
                "dct:conformsTo": {"@id": f"{base_url}datapackage.json"},
                **({"dct:modified": modified} if modified else {}),
                "dcat:keyword": ["行政手続", "KPI"],
                "dcat:distribution": [
                    {
                        "@type": "dcat:Distribution",
                        "dcat:downloadURL": {"@id": f"{base_url}{dataset}.{ext}"},
                        "dcat:mediaType": media,
                        "dct:format": ext.upper(),
                        "dct:license": {"@id": chosen["path"]},
                    }
                    for ext, media in (("csv", "text/csv"), ("json", "application/json"))
                ],
            }
        )
    document = {
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/",
        },
        "@id": f"{base_url}dcat.jsonld",
        "@type": "dcat:Catalog",
        "dct:title": f"{publisher.name} 行政手続オープンデータ",
        "dct:publisher": {"@type": "foaf:Agent", "foaf:name": publisher.name},
        "dct:license": {"@id": chosen["path"]},
        "dcat:dataset": graph,
    }
    return (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
