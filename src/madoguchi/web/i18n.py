"""Japanese and English pages: locale selection, gettext catalogs, and dates as readers expect them.

* **Messages** are written in English in the code (``_("Sign in")``) and translated in gettext catalogs,
  one per area: ``src/madoguchi/<area>/translations/ja/LC_MESSAGES/messages.po``. Areas own their
  catalog, so two areas never edit the same file. The ``.po`` files are the only source: they are
  compiled in memory when first needed (a few milliseconds), so there is no binary ``.mo`` to forget
  to rebuild. ``madoguchi i18n missing`` prints the entries an area still lacks;
  ``tests/web/test_i18n.py`` fails while any message has no Japanese translation.
* **Locale**: ``?lang=`` (which the language switch sets, on the same page), then the visitor's earlier
  choice (a cookie), then the municipality's default locale — only among the locales the municipality
  offers. Outside a municipality: Japanese unless asked otherwise.
* **Dates**: 和暦 in Japanese (令和8年11月26日), ISO 8601 in English (2026-11-26); times in Japan time.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Flask, Response, g, request
from flask_babel import Babel, Domain, get_locale, to_user_timezone

from madoguchi import jp

SUPPORTED_LOCALES = ("ja", "en")
LOCALE_NAMES = {"ja": "日本語", "en": "English"}
LANG_COOKIE = "madoguchi-lang"
TIMEZONE = "Asia/Tokyo"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def translation_directories() -> list[Path]:
    """Every area's ``translations`` folder, in a stable order."""
    return sorted(path for path in PACKAGE_ROOT.glob("*/translations") if path.is_dir())


def catalog_path(directory: Path, locale: str) -> Path:
    return directory / locale / "LC_MESSAGES" / "messages.po"


def load_catalogs(locale: str) -> list[Catalog]:
    catalogs = []
    for directory in translation_directories():
        path = catalog_path(directory, locale)
        if path.exists():
            with path.open("rb") as po:
                catalogs.append(read_po(po, locale=locale))
    return catalogs


def compile_translations(locale: str) -> NullTranslations:
    """All areas' catalogs for ``locale`` merged and compiled in memory (fuzzy entries left out)."""
    merged = Catalog(locale=locale)
    for catalog in load_catalogs(locale):
        for message in catalog:
            if _is_translated(message):
                merged[message.id] = message
    if not len(merged):
        return NullTranslations()
    buffer = io.BytesIO()
    write_mo(buffer, merged)
    buffer.seek(0)
    return Translations(fp=buffer)


class PoDomain(Domain):
    """Flask-Babel's domain, reading the areas' ``.po`` files instead of compiled ``.mo`` files."""

    _compiled: dict[str, NullTranslations] = {}  # noqa: RUF012 - a per-process cache, same for every app

    def get_translations(self) -> NullTranslations:
        locale = str(get_locale() or "ja")
        if locale not in self._compiled:
            self._compiled[locale] = compile_translations(locale)
        return self._compiled[locale]


def tenant_locales() -> tuple[str, ...]:
    tenant = g.get("tenant")
    if tenant is None:
        return SUPPORTED_LOCALES
    listed = (tenant.profile or {}).get("locales")
    if not listed:  # a tenant that names no locales offers every supported one
        return SUPPORTED_LOCALES
    offered = tuple(x for x in listed if x in SUPPORTED_LOCALES)
    return offered or (tenant.default_locale,)


def select_locale() -> str:
    offered = tenant_locales()
    for candidate in (request.args.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in offered:
            return candidate
    tenant = g.get("tenant")
    default = tenant.default_locale if tenant is not None else "ja"
    return default if default in offered else offered[0]


def current_locale() -> str:
    return str(get_locale() or "ja")


def _remember_choice(response: Response) -> Response:
    """Keep the visitor's language choice for their next pages (not personal data; one year)."""
    asked = request.args.get("lang")
    if asked in SUPPORTED_LOCALES and request.cookies.get(LANG_COOKIE) != asked:
        response.set_cookie(
            LANG_COOKIE, asked, max_age=365 * 24 * 3600, path="/", samesite="Lax", secure=request.is_secure
        )
    return response


# --- What templates use ------------------------------------------------------------------------------


def localized(value: Mapping[str, str] | str | None, locale: str | None = None) -> str:
    """Pick the current locale's text from a catalog mapping like ``{"ja": ..., "en": ...}``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    locale = locale or current_locale()
    return value.get(locale) or value.get("ja") or next(iter(value.values()), "")


def format_date_local(value: date | datetime | str | None, locale: str | None = None) -> str:
    """令和8年11月26日 in Japanese, 2026-11-26 in English."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = to_user_timezone(value).date() if value.tzinfo else value.date()
    return jp.to_wareki(value) if (locale or current_locale()) == "ja" else value.isoformat()


#: 月曜日 = 0, as ``date.weekday()`` numbers them.
_WEEKDAYS_JA = "月火水木金土日"


def format_due_date(value: date | None, locale: str | None = None) -> str:
    """A due date with its weekday, as a counter says it: 1月6日（水） (令和9年1月6日（水） in another year than
    this one), Wed 6 Jan (Wed 6 Jan 2027)."""
    if value is None:
        return ""
    this_year = value.year == jp.today().year
    if (locale or current_locale()) == "ja":
        day = f"{value.month}月{value.day}日" if this_year else jp.to_wareki(value)
        return f"{day}（{_WEEKDAYS_JA[value.weekday()]}）"
    return f"{value:%a} {value.day} {value:%b}" + ("" if this_year else f" {value.year}")


def format_datetime_local(value: datetime | None, locale: str | None = None) -> str:
    """令和8年11月26日 14:05 in Japanese, 2026-11-26 14:05 in English; Japan time either way."""
    if value is None:
        return ""
    local = to_user_timezone(value) if value.tzinfo else value
    return f"{format_date_local(local.date(), locale)} {local:%H:%M}"


def format_yen(amount: int | None, locale: str | None = None) -> str:
    if amount is None:
        return ""
    return f"{amount:,}円" if (locale or current_locale()) == "ja" else f"¥{amount:,}"


#: Set on ``flask.g`` by a view whose query must not be repeated in the language switch's links.
LANGUAGE_LINKS_WITHOUT_QUERY = "language_links_without_query"


def language_links() -> list[dict[str, str]]:
    """The language switch: this same page (path and query kept) in each other offered locale."""
    here = current_locale()
    # A page that answers a one-time query (the card provider's code and state) links to itself without it.
    query = () if g.get(LANGUAGE_LINKS_WITHOUT_QUERY) else request.args.items(multi=True)
    kept = [(k, v) for k, v in query if k != "lang"]
    return [
        {
            "locale": locale,
            "name": LOCALE_NAMES[locale],
            "href": f"{request.path}?{urlencode([*kept, ('lang', locale)])}",
        }
        for locale in tenant_locales()
        if locale != here
    ]


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "ja")
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", TIMEZONE)
    babel = Babel(app, locale_selector=select_locale)
    babel.domain_instance = PoDomain()  # a cached property of Babel: set it before the first request
    app.after_request(_remember_choice)
    app.jinja_env.filters.update(
        date_local=format_date_local,
        datetime_local=format_datetime_local,
        due_date=format_due_date,
        yen=format_yen,
        localized=localized,
    )
    app.jinja_env.globals.update(current_locale=current_locale, language_links=language_links, localized=localized)


# --- Maintenance: which messages still lack a translation --------------------------------------------


def extract_messages(area_dir: Path) -> dict[str | tuple[str, str], list[str]]:
    """msgid (a tuple of singular and plural for ngettext) -> places, from an area's Python and templates.

    Babel's own extractors, as ``pybabel extract`` runs them.
    """
    from babel.messages.extract import extract_from_dir

    # Plain-text email templates (notify) keep their line breaks: their messages are not trimmed.
    method_map = [("**/templates/**.html", "jinja2"), ("**/templates/**.txt", "jinja2"), ("**.py", "python")]
    options = {
        "**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"},
        "**/templates/**.txt": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"},
    }
    found: dict[str | tuple[str, str], list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        area_dir,
        method_map,
        options_map=options,
        keywords={"_": None, "gettext": None, "lazy_gettext": None, "ngettext": (1, 2), "lazy_ngettext": (1, 2)},
    ):
        msgid = message if isinstance(message, str) else (message[0], message[1])
        if msgid:
            found.setdefault(msgid, []).append(f"{area_dir.name}/{filename}:{lineno}")
    return found


def untranslated(area_dir: Path, locale: str = "ja") -> dict[str | tuple[str, str], list[str]]:
    """Messages used in ``area_dir`` that no area's catalog translates (or only as fuzzy).

    Any catalog counts, so a message shared by several areas ("Sign out") is translated once; new ones
    go into the area's own catalog.
    """
    translated = {_singular(m.id) for catalog in load_catalogs(locale) for m in catalog if _is_translated(m)}
    return {msgid: places for msgid, places in extract_messages(area_dir).items() if _singular(msgid) not in translated}


def _singular(msgid: str | tuple[str, ...] | list[str]) -> str:
    return msgid if isinstance(msgid, str) else msgid[0]


def _is_translated(message: Any) -> bool:
    strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
    return bool(message.id) and all(strings) and not message.fuzzy


def areas_with_messages() -> Iterable[Path]:
    return sorted(p for p in PACKAGE_ROOT.iterdir() if p.is_dir() and (p / "templates").is_dir())


def _po_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def missing_entries(areas: Iterable[str] = ()) -> str:
    """Untranslated entries of each area (or of ``areas``) as ``.po`` text, ready to paste and translate."""
    wanted = set(areas)
    out: list[str] = []
    for area in areas_with_messages():
        if wanted and area.name not in wanted:
            continue
        missing = untranslated(area)
        if missing:
            out.append(f"# {catalog_path(area / 'translations', 'ja').relative_to(PACKAGE_ROOT.parent)}")
            for msgid, places in missing.items():
                if isinstance(msgid, tuple):
                    singular, plural = msgid
                    out.append(
                        f'#: {" ".join(places)}\nmsgid "{_po_escape(singular)}"\n'
                        f'msgid_plural "{_po_escape(plural)}"\nmsgstr[0] ""\n'
                    )
                else:
                    out.append(f'#: {" ".join(places)}\nmsgid "{_po_escape(msgid)}"\nmsgstr ""\n')
    return "\n".join(out)
