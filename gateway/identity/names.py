"""Personal names: the canonical spelling of a name as schools type it, and its pinyin keys.

Chinese names become simplified characters (OpenCC t2s) without spaces; the parts of a minority name
(阿依古丽·买买提) are joined by ``·`` whichever separator was typed. Latin names become upper case
with their parts in sorted order, because schools put family and given names in either order and the
canonical form must be the same for both. Pinyin keys read the surname as a surname (曾 zeng, 单
shan, 解 xie, compound surnames like 尉迟 yu chi) and the given name with pypinyin's phrase table;
the variants keep every reading of a heteronym so that matching can compare across systems that
romanised differently. The converters load on first use and results are cached, since bulk import
and matching call these millions of times."""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from gateway.identity.issues import InvalidField

MAX_NAME_INPUT = 256
MAX_NAME_LENGTH = 64

_HAN = re.compile("[\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
# Separators typed between the parts of a minority name, after NFKC (which already maps the
# full-width stop to "." and the half-width katakana dot to "・").
_NAME_SEPARATORS = frozenset("·•・‧∙⋅.。-‐‑–—ー")
_LATIN_JOINERS = frozenset("-'")
_KEPT_SURNAMES = ("於",)
_LATIN_SPACES = frozenset("·•・‧∙⋅.,，。")

# Surnames whose reading as a surname differs from the character's most common reading.
SURNAME_READINGS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "曾": ("zeng",),
        "单": ("shan",),
        "解": ("xie",),
        "仇": ("qiu",),
        "区": ("ou",),
        "查": ("zha",),
        "朴": ("piao",),
        "盖": ("ge",),
        "覃": ("qin",),
        "乐": ("yue",),
        "缪": ("miao",),
        "繁": ("po",),
        "员": ("yun",),
        "召": ("shao",),
        "种": ("chong",),
        "秘": ("bi",),
        "翟": ("zhai",),
        "祭": ("zhai",),
        "能": ("nai",),
        "华": ("hua",),
        "任": ("ren",),
        "褚": ("chu",),
        "宿": ("su",),
        "过": ("guo",),
        "谌": ("chen",),
        "阚": ("kan",),
        "应": ("ying",),
        "薄": ("bo",),
        "卜": ("bu",),
        "葛": ("ge",),
        "莘": ("shen",),
        "乜": ("nie",),
        "訾": ("zi",),
        "逄": ("pang",),
        "黑": ("he",),
        "折": ("she",),
        "冼": ("xian",),
        "隗": ("wei",),
        "郇": ("huan",),
        "佴": ("nai",),
        "炅": ("gui",),
        "尉": ("wei",),
        "沈": ("shen",),
        "石": ("shi",),
        "长": ("chang",),
        "重": ("chong",),
        "都": ("du",),
        "藏": ("zang",),
        "朝": ("chao",),
        "蕃": ("pi",),
        "车": ("che",),
        "殷": ("yin",),
        "粘": ("nian",),
        "纪": ("ji",),
        "相": ("xiang",),
        "燕": ("yan",),
        "厍": ("she",),
        "句": ("gou", "ju"),
    }
)

COMPOUND_SURNAMES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "欧阳": ("ou", "yang"),
        "尉迟": ("yu", "chi"),
        "万俟": ("mo", "qi"),
        "单于": ("chan", "yu"),
        "长孙": ("zhang", "sun"),
        "澹台": ("tan", "tai"),
        "乐正": ("yue", "zheng"),
        "子车": ("zi", "ju"),
        "令狐": ("ling", "hu"),
        "司马": ("si", "ma"),
        "上官": ("shang", "guan"),
        "诸葛": ("zhu", "ge"),
        "东方": ("dong", "fang"),
        "皇甫": ("huang", "fu"),
        "公孙": ("gong", "sun"),
        "慕容": ("mu", "rong"),
        "宇文": ("yu", "wen"),
        "司徒": ("si", "tu"),
        "夏侯": ("xia", "hou"),
        "轩辕": ("xuan", "yuan"),
        "端木": ("duan", "mu"),
        "独孤": ("du", "gu"),
        "南宫": ("nan", "gong"),
        "闻人": ("wen", "ren"),
        "呼延": ("hu", "yan"),
        "西门": ("xi", "men"),
        "百里": ("bai", "li"),
        "司空": ("si", "kong"),
        "申屠": ("shen", "tu"),
        "钟离": ("zhong", "li"),
        "拓跋": ("tuo", "ba"),
        "赫连": ("he", "lian"),
        "宗政": ("zong", "zheng"),
        "濮阳": ("pu", "yang"),
        "淳于": ("chun", "yu"),
        "公羊": ("gong", "yang"),
        "公冶": ("gong", "ye"),
        "太史": ("tai", "shi"),
        "第五": ("di", "wu"),
        "仲孙": ("zhong", "sun"),
        "东郭": ("dong", "guo"),
        "鲜于": ("xian", "yu"),
        "闾丘": ("lv", "qiu"),
        "左丘": ("zuo", "qiu"),
        "司寇": ("si", "kou"),
        "颛孙": ("zhuan", "sun"),
        "漆雕": ("qi", "diao"),
        "巫马": ("wu", "ma"),
        "亓官": ("qi", "guan"),
        "公西": ("gong", "xi"),
        "梁丘": ("liang", "qiu"),
        "段干": ("duan", "gan"),
        "谷梁": ("gu", "liang"),
    }
)


@functools.cache
def _t2s() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional to simplified characters (OpenCC t2s); other characters pass through."""
    return str(_t2s().convert(text)) if _HAN.search(text) else text


def is_latin_name(name: str) -> bool:
    """True for a canonical Latin name (as `normalise_name` returns it)."""
    return bool(name) and _HAN.search(name) is None


def _is_latin_letter(ch: str) -> bool:
    return ch.isalpha() and "LATIN" in unicodedata.name(ch, "")


def normalise_name(text: str | None, field: str = "name") -> str:
    """The canonical spelling of a personal name; `InvalidField` when the input is not a usable name."""
    if text is None or not text.strip():
        raise InvalidField(field, "missing", f"{field} is required")
    if len(text) > MAX_NAME_INPUT:
        raise InvalidField(field, "too_long", f"{field} is longer than {MAX_NAME_INPUT} characters")
    value, error = _normalise_name_cached(text, field)
    if error is not None:
        raise InvalidField(field, *error)
    return value


@functools.lru_cache(maxsize=1 << 16)
def _normalise_name_cached(text: str, field: str) -> tuple[str, tuple[str, str] | None]:
    try:
        return _normalise_name(text, field), None
    except InvalidField as exc:
        return "", (exc.code, exc.message)


def _normalise_name(text: str, field: str) -> str:
    chars: list[str] = []
    for ch in unicodedata.normalize("NFKC", text):
        category = unicodedata.category(ch)
        if category == "Cf":
            # Zero-width spaces, BOMs and direction marks come with names pasted from web pages.
            continue
        if ch.isspace():
            chars.append(" ")
        elif category == "Cc":
            raise InvalidField(field, "control_character", f"{field} contains a control character")
        else:
            chars.append(ch)
    cleaned = "".join(chars).strip()
    has_han = _HAN.search(cleaned) is not None
    has_latin = any(_is_latin_letter(ch) for ch in cleaned)
    if has_han and has_latin:
        raise InvalidField(field, "mixed_scripts", f"{field} mixes Chinese characters and Latin letters")
    if has_han:
        canonical = _canonical_han_name(cleaned, field)
    elif has_latin:
        canonical = _canonical_latin_name(cleaned, field)
    elif any(ch.isalpha() for ch in cleaned):
        raise InvalidField(
            field, "unsupported_script", f"{field} must be written in Chinese or Latin letters"
        )
    else:
        raise InvalidField(field, "bad_character", f"{field} contains no letters")
    if len(canonical) > MAX_NAME_LENGTH:
        raise InvalidField(field, "too_long", f"{field} is longer than {MAX_NAME_LENGTH} characters")
    return canonical


def _canonical_han_name(cleaned: str, field: str) -> str:
    chars: list[str] = []
    for ch in cleaned:
        if ch in _NAME_SEPARATORS:
            chars.append("·")
        elif ch == " " or _HAN.match(ch):
            chars.append(ch)
        else:
            raise InvalidField(field, "bad_character", f"{field} contains a character not used in names")
    joined = "".join(chars)
    text = to_simplified(joined)
    if joined.startswith(_KEPT_SURNAMES) and text[:1] != joined[:1]:
        # 於 is its own surname in simplified usage too (通用规范汉字表), not a form of 于.
        text = joined[0] + text[1:]
    if "·" in text:
        parts = [part for part in text.replace(" ", "").split("·") if part]
    else:
        parts = text.split()
        # A space is a separator between the parts of a minority name only when the parts look like
        # one (every part two characters or more, five or more in all); otherwise it is a stray space
        # in a Han name such as "张 伟" or "欧阳 娜娜".
        if not (len(parts) > 1 and all(len(p) >= 2 for p in parts) and sum(map(len, parts)) >= 5):
            parts = ["".join(parts)]
    if not parts:
        raise InvalidField(field, "bad_character", f"{field} contains no characters")
    return "·".join(parts)


def _canonical_latin_name(cleaned: str, field: str) -> str:
    chars: list[str] = []
    for ch in cleaned.replace("’", "'"):
        if ch in _LATIN_SPACES or ch == " ":
            chars.append(" ")
        elif ch in _LATIN_JOINERS or _is_latin_letter(ch) or unicodedata.category(ch) == "Mn":
            chars.append(ch)
        else:
            raise InvalidField(field, "bad_character", f"{field} contains a character not used in names")
    parts = [part.strip("-'") for part in "".join(chars).upper().split()]
    parts = [part for part in parts if part]
    if not parts:
        raise InvalidField(field, "bad_character", f"{field} contains no letters")
    return " ".join(sorted(parts))


def split_surname(name: str) -> tuple[str, str]:
    """Surname and given name of a canonical Han name (compound surnames recognised); minority and
    Latin names have no surname we can tell apart and return ("", name)."""
    if is_latin_name(name) or "·" in name:
        return "", name
    if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES:
        return name[:2], name[2:]
    return name[:1], name[1:]


def _readings(chars: str, *, heteronyms: bool) -> list[list[str]]:
    return [list(options) for options in _cached_readings(chars, heteronyms)]


@functools.lru_cache(maxsize=1 << 16)
def _cached_readings(chars: str, heteronyms: bool) -> tuple[tuple[str, ...], ...]:
    # Surnames and given names repeat across a province's children far more than full names do.
    return tuple(tuple(options) for options in _looked_up_readings(chars, heteronyms=heteronyms))


def _looked_up_readings(chars: str, *, heteronyms: bool) -> list[list[str]]:
    from pypinyin import Style, lazy_pinyin, pinyin

    primary: list[str] = lazy_pinyin(chars, style=Style.NORMAL, errors="default")
    if len(primary) != len(chars):
        # Characters pypinyin does not know come back grouped; fall back to one per character.
        primary = [lazy_pinyin(ch, style=Style.NORMAL)[0] for ch in chars]
    if not heteronyms:
        return [[syllable] for syllable in primary]
    options: list[list[str]] = []
    for ch, first in zip(chars, primary, strict=True):
        readings = pinyin(ch, style=Style.NORMAL, heteronym=True)[0]
        options.append(list(dict.fromkeys([first, *readings])))
    return options


def _syllable_options(name: str, *, heteronyms: bool) -> list[list[str]]:
    surname, given = split_surname(name)
    options: list[list[str]] = []
    if len(surname) == 2:
        fixed = COMPOUND_SURNAMES[surname]
        generic = _readings(surname, heteronyms=heteronyms)
        options.extend(list(dict.fromkeys([fixed[i], *generic[i]])) for i in range(2))
    elif surname:
        readings = _readings(surname, heteronyms=heteronyms)[0]
        options.append(list(dict.fromkeys([*SURNAME_READINGS.get(surname, ()), *readings])))
    for part in given.split("·"):
        if part:
            options.extend(_readings(part, heteronyms=heteronyms))
    if not heteronyms:
        options = [option[:1] for option in options]
    return options


@functools.lru_cache(maxsize=1 << 16)
def name_pinyin(name: str) -> str:
    """The most likely reading of a name: lowercase toneless syllables separated by single spaces
    (ü written v); a Latin name is returned lowercased. Raises `InvalidField` for an unusable name."""
    canonical = normalise_name(name)
    if is_latin_name(canonical):
        return canonical.lower()
    return " ".join(option[0] for option in _syllable_options(canonical, heteronyms=False))


@functools.lru_cache(maxsize=1 << 14)
def name_pinyin_variants(name: str, limit: int = 16) -> frozenset[str]:
    """Every reading of a name (heteronyms expanded), in `name_pinyin`'s form, at most ``limit`` of
    them; the most likely reading is always among them."""
    canonical = normalise_name(name)
    if is_latin_name(canonical):
        return frozenset({canonical.lower()})
    options = _syllable_options(canonical, heteronyms=True)
    combos = itertools.islice(itertools.product(*options), max(limit, 1))
    return frozenset(" ".join(combo) for combo in combos)
