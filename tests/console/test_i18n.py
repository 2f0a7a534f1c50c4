"""The console's language: one catalogue that the templates and the code use and that has every text
in both languages, no text written into a template, the choice of language, and local formats."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.auth.scopes import StaffRole
from gateway.batches.collection import ReviewStep
from gateway.console import i18n, service
from gateway.console.i18n import Texts, choose_language
from gateway.context import AppContext
from tests.fixtures.console import county_reviewer

TEMPLATES = Path(i18n.__file__).parent / "templates"
# A message key the templates name literally: t("queue.title") or t('queue.region_placeholder').
_LITERAL_KEY = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z0-9_\-]+)["']\s*[,)]""")
# A group the templates look codes up in: t.label("problem_type", row.type).
_LABEL_GROUP = re.compile(r"""t\.label\(\s*["']([a-z_]+)["']""")


def _templates() -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in TEMPLATES.glob("*.html")}


def test_every_message_has_both_languages() -> None:
    catalogue = i18n.catalogue()
    assert len(catalogue) > 100
    for key, texts in catalogue.items():
        assert set(texts) == set(i18n.LANGUAGES), key
        assert all(text.strip() for text in texts.values()), key
    # The Chinese is Chinese: most messages carry CJK characters (codes and numbers aside).
    chinese = [t["zh-CN"] for t in catalogue.values() if re.search(r"[\u4e00-\u9fff]", t["zh-CN"])]
    assert len(chinese) > 0.8 * len(catalogue)


def test_every_key_the_templates_and_the_code_use_is_in_the_catalogue() -> None:
    catalogue = i18n.catalogue()
    used = {key for text in _templates().values() for key in _LITERAL_KEY.findall(text)}
    assert len(used) > 60
    assert used - set(catalogue) == set()
    groups = {group for text in _templates().values() for group in _LABEL_GROUP.findall(text)}
    codes = {
        "problem_type": service.PROBLEM_TYPES,
        "problem_status": service.PROBLEM_STATUSES,
        "person_field": service.COMPARED_FIELDS,
        "unit_kind": ("province", "city", "county", "school"),
        "review_step": tuple(step.value for step in ReviewStep),
        "staff_role": tuple(role.value for role in StaffRole),
    }
    for group in groups & set(codes):
        assert {f"{group}.{code}" for code in codes[group]} <= set(catalogue), group
    charts = service.dashboard_charts(service.RegionFigures(region="41"))
    chart_keys = {c.title for c in charts} | {b.label for c in charts for b in c.bars}
    assert chart_keys - set(catalogue) == set()


def test_no_text_is_written_into_a_template() -> None:
    """What is left of a template once its tags, expressions and comments are gone holds no words:
    every word comes from the catalogue (single capitals L, G and J are code types)."""
    for name, text in _templates().items():
        stripped = re.sub(r"\{%.*?%\}|\{\{.*?\}\}|\{#.*?#\}", " ", text, flags=re.S)
        stripped = re.sub(r"<[^>]*>", " ", stripped, flags=re.S)
        words = re.findall(r"[A-Za-z]{2,}|[\u4e00-\u9fff]+", stripped)
        assert words == [], (name, words)


@pytest.mark.parametrize(
    ("asked", "cookie", "header", "chosen"),
    [
        (None, None, None, "zh-CN"),
        (None, None, "en-US,en;q=0.9", "en"),
        (None, None, "zh-TW,zh;q=0.9,en;q=0.8", "zh-CN"),
        (None, None, "fr-FR,de;q=0.9", "zh-CN"),
        (None, "en", "zh-CN", "en"),
        ("zh-CN", "en", "en-US", "zh-CN"),
        ("xx", None, "en;q=0", "zh-CN"),
    ],
)
def test_the_language_is_asked_kept_or_negotiated(
    asked: str | None, cookie: str | None, header: str | None, chosen: str
) -> None:
    assert choose_language(asked, cookie, header) == chosen


def test_dates_and_numbers_in_the_readers_convention() -> None:
    moment = datetime(2026, 10, 15, 6, 30, tzinfo=UTC)  # 14:30 in Beijing
    zh, en = Texts("zh-CN"), Texts("en")
    assert zh.datetime(moment) == "2026年10月15日 14:30"
    assert en.datetime(moment).startswith("Oct 15, 2026") and "2:30" in en.datetime(moment)
    assert (zh.number(12345), zh.percent(0.3333), zh.percent(None)) == ("12,345", "33.3%", "—")
    assert zh("queue.shown", n=3) == "显示 3 条" and en("queue.shown", n=3) == "3 shown"
    with pytest.raises(KeyError):
        zh("queue.no_such_message")


def test_pages_speak_chinese_unless_english_is_asked_for(
    console: TestClient, committed_context: AppContext
) -> None:
    login = console.get("/console/login")
    assert '<html lang="zh-Hans">' in login.text and "登录名" in login.text
    assert login.headers["content-language"] == "zh-CN"
    english = console.get("/console/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "Password" in english.text and "密码" not in english.text
    reviewer = county_reviewer(console, committed_context)
    console.post("/console/login", data=reviewer.login)
    queue = console.get("/console/queue")
    assert "问题记录" in queue.text and "李娜" in queue.text
    asked = console.get("/console/queue?lang=en")
    assert "Problem records" in asked.text and asked.cookies.get("gw_lang") == "en"
    # Kept for the next pages by the cookie, until Chinese is asked for again.
    assert "Problem records" in console.get("/console/dashboard").text
    assert "问题记录" in console.get("/console/queue?lang=zh-CN").text
