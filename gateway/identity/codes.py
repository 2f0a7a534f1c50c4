"""Code tables the canonical record uses: identity document types (with the form codes of the
national data-collection form accepted on input), GB/T 2261.1 gender, GB 3304 ethnicity and
ISO 3166-1 nationality (looked up in pycountry). Each table has a parser that accepts the spellings
schools actually type and raises `InvalidField` for anything else."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

import pycountry

from gateway.identity.issues import InvalidField


class IdType(StrEnum):
    """Identity document types; ``IdType("1")`` and other form codes resolve to the canonical member."""

    RESIDENT_ID = "resident_id"
    HK_MACAU_ID = "hk_macau_id"
    TAIWAN_PERMIT = "taiwan_permit"
    FOREIGN_PERMANENT_RESIDENCE = "foreign_permanent_residence"
    PASSPORT = "passport"
    HOUSEHOLD_BOOKLET = "household_booklet"
    HK_MACAU_PERMIT = "hk_macau_permit"
    HMT_RESIDENCE_PERMIT = "hmt_residence_permit"
    OTHER = "other"
    NONE = "none"

    @classmethod
    def _missing_(cls, value: object) -> IdType | None:
        if not isinstance(value, str):
            return None
        key = unicodedata.normalize("NFKC", value).strip()
        alias = _ID_TYPE_ALIASES.get(key) or _ID_TYPE_ALIASES.get(key.lower())
        if alias is not None:
            return cls(alias)
        for member in cls:
            if member.value == key.lower():
                return member
        return None


# Form codes of the national data-collection form, and the document names printed on it.
_ID_TYPE_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "1": "resident_id",
        "6": "hk_macau_id",
        "7": "hk_macau_id",
        "8": "taiwan_permit",
        "9": "foreign_permanent_residence",
        "a": "passport",
        "b": "household_booklet",
        "z": "other",
        "-": "none",
        "居民身份证": "resident_id",
        "身份证": "resident_id",
        "户口簿": "household_booklet",
        "护照": "passport",
        "台湾居民来往大陆通行证": "taiwan_permit",
        "外国人永久居留身份证": "foreign_permanent_residence",
        "港澳居民来往内地通行证": "hk_macau_permit",
        "港澳台居民居住证": "hmt_residence_permit",
        "其他": "other",
        "无": "none",
    }
)


# Pure, and called for every row of a bulk load with a handful of distinct texts: memoised.
@functools.lru_cache(maxsize=1024)
def parse_id_type(text: str | None) -> IdType:
    """The canonical `IdType` for an enum name, form code or document name."""
    if text is None or not text.strip():
        raise InvalidField("id_type", "missing", "id_type is required ('none' when there is no document)")
    try:
        return IdType(text)
    except ValueError:
        raise InvalidField("id_type", "unknown_id_type", "id_type is not a known document type") from None


class Gender(StrEnum):
    """GB/T 2261.1 sex codes; ``Gender("男")``, ``Gender("F")`` and similar resolve to a member."""

    UNKNOWN = "0"
    MALE = "1"
    FEMALE = "2"
    NOT_STATED = "9"

    @classmethod
    def _missing_(cls, value: object) -> Gender | None:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            return None
        alias = _GENDER_ALIASES.get(unicodedata.normalize("NFKC", value).strip().lower())
        return None if alias is None else cls(alias)


_GENDER_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "0": "0",
        "1": "1",
        "2": "2",
        "9": "9",
        "男": "1",
        "男性": "1",
        "女": "2",
        "女性": "2",
        "m": "1",
        "f": "2",
        "male": "1",
        "female": "2",
        "未知": "0",
        "unknown": "0",
        "未说明": "9",
        "未說明": "9",
    }
)


# Pure, and called for every row of a bulk load with a handful of distinct texts: memoised.
@functools.lru_cache(maxsize=1024)
def parse_gender(text: str | None) -> Gender:
    """A blank gender is allowed by the record schema and means 'not stated' (9)."""
    if text is None or not text.strip():
        return Gender.NOT_STATED
    try:
        return Gender(text)
    except ValueError:
        raise InvalidField(
            "gender", "unknown_gender", "gender must be 1/2/0/9, 男/女, M/F or male/female"
        ) from None


ETHNICITIES: Mapping[str, str] = MappingProxyType(
    {
        "01": "汉族",
        "02": "蒙古族",
        "03": "回族",
        "04": "藏族",
        "05": "维吾尔族",
        "06": "苗族",
        "07": "彝族",
        "08": "壮族",
        "09": "布依族",
        "10": "朝鲜族",
        "11": "满族",
        "12": "侗族",
        "13": "瑶族",
        "14": "白族",
        "15": "土家族",
        "16": "哈尼族",
        "17": "哈萨克族",
        "18": "傣族",
        "19": "黎族",
        "20": "傈僳族",
        "21": "佤族",
        "22": "畲族",
        "23": "高山族",
        "24": "拉祜族",
        "25": "水族",
        "26": "东乡族",
        "27": "纳西族",
        "28": "景颇族",
        "29": "柯尔克孜族",
        "30": "土族",
        "31": "达斡尔族",
        "32": "仫佬族",
        "33": "羌族",
        "34": "布朗族",
        "35": "撒拉族",
        "36": "毛南族",
        "37": "仡佬族",
        "38": "锡伯族",
        "39": "阿昌族",
        "40": "普米族",
        "41": "塔吉克族",
        "42": "怒族",
        "43": "乌孜别克族",
        "44": "俄罗斯族",
        "45": "鄂温克族",
        "46": "德昂族",
        "47": "保安族",
        "48": "裕固族",
        "49": "京族",
        "50": "塔塔尔族",
        "51": "独龙族",
        "52": "鄂伦春族",
        "53": "赫哲族",
        "54": "门巴族",
        "55": "珞巴族",
        "56": "基诺族",
        "97": "其他",
        "98": "外国血统中国籍人士",
    }
)


@functools.cache
def _ethnicity_by_name() -> Mapping[str, str]:
    table: dict[str, str] = {}
    for code, name in ETHNICITIES.items():
        table[name] = code
        if name.endswith("族"):
            table[name[:-1]] = code
    return MappingProxyType(table)


def ethnicity_name(code: str) -> str | None:
    return ETHNICITIES.get(code)


# Pure, and called for every row of a bulk load with a handful of distinct texts: memoised.
@functools.lru_cache(maxsize=1024)
def parse_ethnicity(text: str | None) -> str | None:
    """The two-digit GB 3304 code for a code or a name (with or without 族); blank means not given."""
    if text is None:
        return None
    key = unicodedata.normalize("NFKC", text).strip()
    if not key:
        return None
    if key.isascii() and key.isdigit() and len(key) <= 2:
        # Spreadsheets drop the leading zero of 01..09.
        code = key.zfill(2)
        if code in ETHNICITIES:
            return code
        raise InvalidField("ethnicity", "unknown_ethnicity", "ethnicity code is not in GB 3304")
    code_for_name = _ethnicity_by_name().get(_simplified(key).replace(" ", ""))
    if code_for_name is None:
        raise InvalidField("ethnicity", "unknown_ethnicity", "ethnicity is neither a GB 3304 code nor name")
    return code_for_name


def _simplified(text: str) -> str:
    from gateway.identity.names import to_simplified

    return to_simplified(text)


@functools.cache
def _country_alpha3(key: str) -> str | None:
    country = None
    if key.isdigit() and len(key) == 3:
        country = pycountry.countries.get(numeric=key)
    elif len(key) == 3 and key.isalpha():
        country = pycountry.countries.get(alpha_3=key)
    elif len(key) == 2 and key.isalpha():
        country = pycountry.countries.get(alpha_2=key)
    return None if country is None else str(country.alpha_3)


def country_for_numeric(numeric: str) -> str | None:
    """ISO 3166-1 alpha-3 for a three-digit numeric code (as carried by 2023 residence cards)."""
    return _country_alpha3(numeric) if numeric.isascii() and numeric.isdigit() else None


def is_known_country(alpha3: str) -> bool:
    return len(alpha3) == 3 and alpha3.isascii() and _country_alpha3(alpha3.upper()) == alpha3.upper()


# Pure, and called for every row of a bulk load with a handful of distinct texts: memoised.
@functools.lru_cache(maxsize=1024)
def parse_nationality(text: str | None) -> str:
    """ISO 3166-1 alpha-3; blank means the schema default CHN. Alpha-2 and numeric codes are accepted too."""
    if text is None:
        return "CHN"
    key = unicodedata.normalize("NFKC", text).strip().upper()
    if not key:
        return "CHN"
    alpha3 = _country_alpha3(key) if key.isascii() else None
    if alpha3 is None:
        raise InvalidField(
            "nationality", "unknown_nationality", "nationality must be an ISO 3166-1 country code"
        )
    return alpha3


# Documents that carry a GB 11643 citizen ID number (the household booklet carries the resident ID
# number): two valid, different ones mean two people, and only they can become a G code.
CITIZEN_ID_TYPES = frozenset({IdType.RESIDENT_ID.value, IdType.HOUSEHOLD_BOOKLET.value})
