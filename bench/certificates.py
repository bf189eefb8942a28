"""Benchmark: certificates rendered (reportlab, text shaped by HarfBuzz in an embedded IPAmj Mincho subset, QR
code, the mayor's name and seal) and signed (pyHanko, PAdES B-B, ECDSA P-256 / SHA-256) per second on one CPU core,
through the same code the issue path uses (``madoguchi.documents.certificates.Certificates.render_and_sign``).

    python bench/certificates.py [-n 500] [--rounds 5] [--compare] [--fallback]

Each round renders and signs N residency and tax certificates with varying names, serials and codes; the
best round is the figure (other processes on the machine only ever slow a round down). Nothing is stored:
the storage write and the database rows are not part of this measurement.

``--compare`` also times, in alternating rounds under the same conditions, the same pages signed the plain
pyHanko way (``signers.sign_pdf`` with a fresh ``SimpleSigner``: a dry-run signature to size the CMS, every
attribute re-encoded), which is where the issue's naive ~40/s went.

``--fallback`` writes two of the ten family names with the Adobe-Japan1 sequences IPAmj lacks (葛 U+E0100, 邊
U+E0102), so one certificate in five also embeds a Hanazono Mincho subset (the fallback font).
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import tempfile
import time
from datetime import date
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers

from madoguchi import jp
from madoguchi.config import Settings
from madoguchi.documents import certificates, pdf

# 外字 and ideographic variation sequences (IPAmj's MJ ones) among them, as in real registers.
FAMILY = ("髙橋", "佐藤", "鈴木", "渡邊\U000e0109", "伊藤", "山﨑", "中村", "葛\U000e0102西", "加藤", "𠮷田")
SEAL = Path(__file__).parents[1] / "tenants" / "seals" / "sakuragaoka-city.png"
#: Two of them with the Adobe-Japan1 sequences IPAmj lacks: drawn from the fallback font (``--fallback``).
FALLBACK_FAMILY = tuple(
    {"渡邊\U000e0109": "渡邊\U000e0102", "葛\U000e0102西": "葛\U000e0100西"}.get(name, name) for name in FAMILY
)
GIVEN = ("一郎", "花子", "美咲", "陽葵", "蓮", "結衣", "大翔", "さくら", "悠真", "凛")


def _tenant() -> SimpleNamespace:
    """What rendering and signing read of a tenant (no database needed)."""
    return SimpleNamespace(
        id=None,
        slug="sakuragaoka-city",
        name_ja="桜ヶ丘市",
        profile={
            "contact": {"department": {"ja": "市民課"}},
            "issuer": {"name": "桜井　雅之", "seal_png": base64.b64encode(SEAL.read_bytes()).decode()},
        },
    )


def _content(i: int, family: tuple[str, ...] = FAMILY) -> tuple[str, dict]:  # type: ignore[type-arg]
    name = f"{family[i % 10]}　{GIVEN[(i // 10) % 10]}"
    birth = date(1950 + i % 60, 1 + i % 12, 1 + i % 28)
    if i % 2:
        return "tax_certificate", {
            "kind": "taxation",
            "fiscal_year": 2025,
            "fiscal_year_label": jp.fiscal_year_label_ja(2025),
            "income_year": 2024,
            "name": name,
            "name_kana": "タカハシ　イチロウ",
            "birth_date": birth.isoformat(),
            "address_on_jan1": f"長野県桜ヶ丘市中央一丁目{i % 30 + 1}番1号",
            "income": {"salary": 4_360_000 + i, "business": 0, "pension": 0, "other": 0, "total": 4_360_000 + i},
            "deductions": 1_300_000,
            "taxable_income": 3_060_000 + i,
            "dependents": i % 3,
            "non_taxable": False,
            "tax": {"municipal": 183_600, "prefectural": 122_400},
        }
    return "residency_certificate", {
        "address": f"長野県桜ヶ丘市中央一丁目{i % 30 + 1}番1号",
        "head_of_household": name,
        "persons": [
            {
                "name": name,
                "name_kana": "タカハシ　イチロウ",
                "birth_date": birth.isoformat(),
                "birth_date_wareki": jp.to_wareki(birth),
                "sex": "male" if i % 3 else "female",
                "relationship": "世帯主",
                "became_resident_on": "2015-04-01",
                "address_set_on": "2015-04-01",
            }
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=500, help="certificates per round (default 500)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best is reported (default 5)")
    parser.add_argument("--compare", action="store_true", help="also time plain pyHanko signing of the same pages")
    parser.add_argument("--fallback", action="store_true", help="names with sequences from the fallback font too")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else ["?"]

    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir), public_url="https://madoguchi.example.jp")
        issuer = certificates.Certificates(settings)
        tenant = _tenant()
        jobs = []
        for i in range(args.n):
            kind, content = _content(i, FALLBACK_FAMILY if args.fallback else FAMILY)
            code = certificates.new_verification_code()
            jobs.append((kind, f"202983-20261126-{i:08X}", content, code))

        def one(job: tuple) -> bytes:  # type: ignore[type-arg]
            kind, serial, content, code = job
            return issuer.render_and_sign(  # type: ignore[arg-type]
                tenant, kind=kind, serial=serial, issued_on=date(2026, 11, 26), content=content, code=code
            )

        def plain(job: tuple) -> bytes:  # type: ignore[type-arg]
            kind, serial, content, code = job
            page = pdf.CertificatePage(
                kind=kind,
                serial=serial,
                issued_on=date(2026, 11, 26),
                content=content,
                issuer=issuer.issuer_of(tenant),  # type: ignore[arg-type]
                verification_code=certificates.grouped(code),
                verification_url=certificates.verification_url(settings, code),
            )
            prepared = issuer.keys.signer_for(tenant.slug, tenant.name_ja)
            fast = prepared.signer
            signer = signers.SimpleSigner(fast.signing_cert, fast.signing_key, fast.cert_registry)  # type: ignore[attr-defined]
            writer = IncrementalPdfFileWriter(BytesIO(pdf.render(page, issuer.font)))
            return signers.sign_pdf(writer, prepared.signature_meta, signer=signer).getvalue()

        sample = one(jobs[0])  # warm-up: fonts registered, keys generated and loaded, signer prepared
        variants = [("madoguchi", one)] + ([("plain pyHanko signing", plain)] if args.compare else [])
        results: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name, _ in variants}
        for _ in range(args.rounds):
            for name, produce in variants:
                wall, cpu = time.perf_counter(), time.process_time()
                for job in jobs:
                    produce(job)
                results[name][0].append(args.n / (time.perf_counter() - wall))
                results[name][1].append(args.n / (time.process_time() - cpu))
        rates, cpu_rates = results["madoguchi"]

    print(f"cores: {cores}; {args.n} certificates x {args.rounds} rounds; ~{len(sample) // 1024} KiB each")
    print("signature: PAdES B-B (ETSI.CAdES.detached), ECDSA P-256 with SHA-256, certificate chain embedded")
    print(f"rounds (certificates/s, wall clock): {', '.join(f'{r:.1f}' for r in rates)}")
    print(f"median {statistics.median(rates):.1f}/s; CPU time only: best {max(cpu_rates):.1f}/s")
    if args.compare:
        plain_rates, plain_cpu = results["plain pyHanko signing"]
        print(f"plain pyHanko signing, same pages: best {max(plain_rates):.1f}/s (CPU only {max(plain_cpu):.1f}/s)")
    print(f"certificates/s: {max(rates):.1f}")


if __name__ == "__main__":
    main()
