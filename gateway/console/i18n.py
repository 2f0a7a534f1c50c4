"""The console in its readers' language: Chinese (zh-CN) by default, English on request.

Every word a page shows comes from one catalogue, ``messages.toml`` (each key with its zh-CN and en
text side by side; no text in the templates); a test holds the templates and the catalogue to each
other. The language is the one asked for with ``?lang=`` (then kept in a cookie), else the cookie's,
else the best match of the browser's Accept-Language, else zh-CN. Dates, times, numbers and
percentages follow the language's CLDR conventions through Babel, in China Standard Time.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from babel import Locale
from babel.core import negotiate_locale
from babel.dates import format_date, format_time
from babel.numbers import format_decimal, format_percent

CATALOGUE = Path(__file__).parent / "messages.toml"
LANGUAGES = ("zh-CN", "en")
DEFAULT = "zh-CN"
LANG_COOKIE = "gw_lang"
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")


@functools.cache
def catalogue() -> dict[str, dict[str, str]]:
    """Every message by dotted key (``queue.title``), each with its text per language."""
    with CATALOGUE.open("rb") as handle:
        raw = tomllib.load(handle)
    flat: dict[str, dict[str, str]] = {}

    def walk(prefix: str, table: dict[str, Any]) -> None:
        for key, value in table.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict) and set(value) <= set(LANGUAGES) and value:
                flat[name] = {lang: str(text) for lang, text in value.items()}
            elif isinstance(value, dict):
                walk(name, value)
            else:
                raise ValueError(f"{name}: a message is a table of zh-CN and en texts")

    walk("", raw)
    return flat


@functools.cache
def _locale(language: str) -> Locale:
    return Locale.parse(language.replace("-", "_"))


def choose_language(asked: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The page's language: ``?lang=``, the cookie, the browser's preference, zh-CN."""
    for chosen in (asked, cookie):
        if chosen in LANGUAGES:
            return chosen
    if accept_language:
        preferred = []
        for part in accept_language.split(","):
            tag, _, params = part.strip().partition(";")
            weight = 1.0
            if params.strip().startswith("q="):
                try:
                    weight = float(params.strip()[2:])
                except ValueError:
                    weight = 0.0
            if tag and weight > 0:
                preferred.append((weight, tag.strip()))
        ordered = [tag for _, tag in sorted(preferred, key=lambda p: -p[0])]
        found = negotiate_locale(ordered, ["zh_CN", "zh", "en"], sep="-")
        if found:
            return "en" if found.startswith("en") else "zh-CN"
    return DEFAULT


@dataclass(frozen=True)
class Texts:
    """The catalogue and the formats of one language, as the templates use them (``t``, ``fmt``)."""

    language: str

    @property
    def locale(self) -> Locale:
        return _locale(self.language)

    @property
    def html_lang(self) -> str:
        return "zh-Hans" if self.language == "zh-CN" else "en"

    def __call__(self, key: str, **values: object) -> str:
        entry = catalogue().get(key)
        if entry is None:
            raise KeyError(f"no message {key!r} in the console catalogue")
        text = entry.get(self.language) or entry[DEFAULT]
        return text.format(**values) if values else text

    def label(self, group: str, key: str | None) -> str:
        """The text of ``group.key`` (a code shown to people), or the code itself when it has none."""
        if key is None:
            return ""
        entry = catalogue().get(f"{group}.{key}")
        return (entry.get(self.language) or entry[DEFAULT]) if entry else key

    def datetime(self, value: datetime) -> str:
        """A moment in China Standard Time: the CLDR medium date and short time of the language
        (2026年10月15日 14:30; Oct 15, 2026, 2:30 PM)."""
        local = value.astimezone(CHINA_STANDARD_TIME)
        day = format_date(local.date(), "medium", locale=self.locale)
        return f"{day} {format_time(local.time(), 'short', locale=self.locale)}"

    def date(self, value: date) -> str:
        return format_date(value, "long", locale=self.locale)

    def number(self, value: float | int | None) -> str:
        return "—" if value is None else format_decimal(value, locale=self.locale)

    def percent(self, value: float | None) -> str:
        return "—" if value is None else format_percent(value, "#,##0.0%", locale=self.locale)
