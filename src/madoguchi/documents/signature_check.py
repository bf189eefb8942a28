"""Read an uploaded PDF's signature with pyHanko, inside a sandboxed child process (see ``sandbox``).

Two layers keep a hostile file cheap. pyHanko's own decode limits are set to what one of our certificates
can hold (a page, a font subset, a signature: well under a MiB decoded, a few dozen objects), so a stream
that inflates past them stops at once with ``PdfDecodeLimitError``; the child's CPU, memory and wall-clock
limits stop whatever gets past them. Either way the caller learns only that the file was refused.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from io import BytesIO

from asn1crypto import x509
from pyhanko.pdf_utils.decode_limits import (
    DEFAULT_PURPOSE_LIMITS,
    DecodeLimits,
    DecodePurpose,
    DocumentDecodeBudget,
    StreamDecodeLimits,
)
from pyhanko.pdf_utils.misc import PdfDecodeLimitError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from madoguchi.documents import sandbox

MiB = 1024 * 1024

#: What parsing one uploaded PDF may cost. A real certificate is checked in about 0.1 s of CPU.
LIMITS = sandbox.Limits(cpu_seconds=2, memory_bytes=256 * MiB, wall_seconds=3.0)


class Refused(Exception):
    """The file cannot be read within the limits: it is not a certificate of ours, and may be hostile."""


@dataclass
class Findings:
    """What pyHanko found in the file's last signature."""

    signature_found: bool = False
    intact: bool = False
    trusted: bool = False
    covers_whole_file: bool = False
    signer: str = ""
    problems: list[str] = field(default_factory=list)


def _decode_limits() -> DecodeLimits:
    # One certificate decodes to a few hundred KiB (its page and an embedded font subset); its xref stream
    # lists a few dozen objects. pyHanko parses a cross-reference stream entry by entry in Python, so a
    # bomb that inflates to millions of entries costs seconds even below pyHanko's default 64 MiB caps.
    return DecodeLimits(
        per_stream=StreamDecodeLimits(max_ratio=1100, ratio_floor=MiB, max_output_size=8 * MiB),
        per_purpose={
            **DEFAULT_PURPOSE_LIMITS,
            DecodePurpose.XREF_STREAM: StreamDecodeLimits(max_ratio=None, max_output_size=64 * 1024),
            DecodePurpose.OBJECT_STREAM: StreamDecodeLimits(max_ratio=100, ratio_floor=MiB, max_output_size=MiB),
        },
        document_budget=DocumentDecodeBudget(base_allowance=16 * MiB, max_ratio=20),
    )


def inspect(data: bytes, trust_root_der: bytes) -> Findings:
    """Validate the last signature of ``data`` against one trust root. Runs in the sandboxed child."""
    findings = Findings()
    try:
        reader = PdfFileReader(BytesIO(data), strict=False, decode_limits=_decode_limits())
        signatures = reader.embedded_signatures
    except (PdfDecodeLimitError, RecursionError):
        raise  # over a limit: the whole file is refused, not reported as unreadable
    except Exception as exc:
        findings.problems.append(f"The PDF cannot be read: {type(exc).__name__}")
        return findings
    if not signatures:
        findings.problems.append("The PDF carries no signature.")
        return findings
    findings.signature_found = True
    signature = signatures[-1]
    try:
        context = ValidationContext(trust_roots=[x509.Certificate.load(trust_root_der)], allow_fetching=False)
        status = asyncio.run(async_validate_pdf_signature(signature, context))
    except (PdfDecodeLimitError, RecursionError):
        raise
    except Exception as exc:
        findings.problems.append(f"The signature cannot be checked: {type(exc).__name__}")
        return findings
    findings.intact = bool(status.intact and status.valid)
    findings.trusted = bool(status.trusted)
    findings.covers_whole_file = status.coverage == SignatureCoverageLevel.ENTIRE_FILE and len(signatures) == 1
    findings.signer = status.signing_cert.subject.human_friendly if status.signing_cert else ""
    if not findings.intact:
        findings.problems.append("The signed content was changed after signing.")
    if not findings.trusted:
        findings.problems.append("The signer is not a municipality certified by this platform.")
    if not findings.covers_whole_file:
        findings.problems.append("Something was added to the file after it was signed.")
    return findings


def check(data: bytes, trust_root_der: bytes) -> Findings:
    """``inspect`` in a sandboxed child. ``Refused`` when the file goes over a limit of ours or pyHanko's."""
    try:
        return sandbox.run(inspect, data, trust_root_der, limits=LIMITS)
    except sandbox.LimitExceeded as exceeded:
        raise Refused(exceeded.reason) from None


sandbox.preload(__name__)
