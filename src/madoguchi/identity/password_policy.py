"""The password rule (NIST SP 800-63B style): long enough, not the email address, not a well-known password.

No composition rules (a digit, a symbol...): they make passwords harder to remember, not harder to guess.
Length and a block list of the passwords attackers try first do more. Messages go through gettext.
"""

from __future__ import annotations

import unicodedata

from flask_babel import force_locale, lazy_gettext

MIN_LENGTH = 12
#: Argon2 hashes any length, but a megabyte "password" is a denial-of-service attempt.
MAX_LENGTH = 256

# Passwords of 12+ characters found at the top of public breach lists, and the ones people build for a
# Japanese municipal service. Compared after NFKC + casefold.
_COMMON = frozenset(
    """
    123456789012 1234567890123 12345678901234 123456789000 123123123123 123456123456 111111111111
    000000000000 999999999999 121212121212 112233445566 qwertyuiopas qwerty123456 qwerty1234567
    qwertyuiop12 qwertyuiop123 1q2w3e4r5t6y 1qaz2wsx3edc qazwsxedcrfv zaq12wsxcde3 asdfghjkl123
    1234qwerasdf qwer1234asdf abcdefghijkl abcdefghijk1 abc123456789 abcd12345678 aaaaaaaaaaaa
    password1234 password12345 password123456 passw0rd1234 p@ssw0rd1234 password123! passwordpassword
    iloveyou1234 letmein12345 welcome12345 welcome123456 changeme1234 administrator administrator1
    trustno11234 football1234 baseball1234 superman1234 princess1234 sunshine1234 dragon123456
    monkey123456 shadow123456 master123456 michael12345 computer1234 internet1234 starwars1234
    1234567890qwerty qwerty1234567890 qwertyuiopasdfgh 1q2w3e4r5t6y7u8i zxcvbnm12345 zxcvbnmasdfg
    nihon1234567 nippon123456 tokyo1234567 tokyo2020tokyo sakura123456 sakurasakura doraemon1234
    pokemon12345 pikachu12345 arigatou1234 konnichiwa12 madoguchi123 madoguchi1234 madoguchi-demo
    """.split()  # noqa: SIM905 - a word list reads better as words
)

# A famous word followed by nothing but digits and punctuation is as weak as the word.
_WEAK_STEMS = ("password", "passw0rd", "p@ssw0rd", "qwerty", "iloveyou", "letmein", "welcome", "admin", "madoguchi")

# Written once, in English (the API's and the CLI's language); the pages' Japanese is in identity's catalog.
_MESSAGES = {
    "too_short": lazy_gettext("must be at least %(length)s characters long", length=MIN_LENGTH),
    "too_long": lazy_gettext("must be at most %(length)s characters long", length=MAX_LENGTH),
    "is_email": lazy_gettext("must not be your email address"),
    "common": lazy_gettext("is too common: choose one that others are unlikely to use"),
}


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def problems(password: str, *, email: str | None = None) -> list[str]:
    """Stable codes of what is wrong with ``password`` (empty when it is acceptable)."""
    if len(password) < MIN_LENGTH:
        return ["too_short"]
    if len(password) > MAX_LENGTH:
        return ["too_long"]
    folded = _fold(password)
    found = []
    if email:
        folded_email = _fold(email)
        if folded in (folded_email, folded_email.split("@", 1)[0]):
            found.append("is_email")
    if folded in _COMMON or len(set(folded)) <= 2 or _is_stem_and_filler(folded):
        found.append("common")
    return found


def _is_stem_and_filler(folded: str) -> bool:
    return any(folded.startswith(stem) and not any(ch.isalpha() for ch in folded[len(stem) :]) for stem in _WEAK_STEMS)


def messages(codes: list[str], locale: str = "en") -> list[str]:
    """What the codes mean, in ``locale`` (English unless a page asks for its own language)."""
    with force_locale(locale):
        return [str(_MESSAGES[code]) for code in codes]
