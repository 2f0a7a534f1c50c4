"""Synthetic Chinese student records, deterministic for a seed: a population of clean, distinct persons
(valid GB 11643 ID numbers with their MOD 11-2 check character, current GB/T 2260 county codes,
guardians, a share without any ID document, twins, minority and Latin names, very common names born on
the same days across the country) and a labelled data set of messy submissions of those persons that
carries every hard case of record-schema.md (homophone typing errors, traditional characters,
full-width and spaced input, day/month swaps, one-day and one-year slips, ID substitutions and
transpositions, a typo that lands on another person's valid number, missing documents, changed
guardians and households). The mock government systems, demo data, ``gateway eval``, the quality tests
and the benchmarks all draw from here.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import lru_cache

import opencc
from stdnum import numdb

from gateway.identity import CanonicalRecord

# Weighted roughly by frequency (most common first); compound surnames included on purpose.
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方")
CHILD_GIVEN = (
    "子涵浩宇梓轩欣怡雨泽一诺博文思佳俊杰晨宸睿铭嘉琪萱晓明天辰逸瑶悦可馨沐安若汐语彤依然昊豪鑫宁静婷雪"
    "涛鹏飞凯乐航伟强磊军华芳丽敏洋斌成康健志远梦琳颖慧美玉亮松阳煜皓锦澄毅彬"
)
GUARDIAN_GIVEN = (
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
    "秀英", "霞", "平", "刚", "桂英", "建华", "建国", "志强", "海燕", "红梅", "晓东", "国庆", "春华",
    "玉兰", "立新", "志刚", "小红", "丽华", "文斌", "永红", "海涛", "建军", "雪梅",
)  # fmt: skip
# Full names so common that many children share them, often with the same birth date.
COMMON_NAMES = (
    "王子涵",
    "李浩宇",
    "张伟",
    "王梓涵",
    "张子轩",
    "李欣怡",
    "刘浩然",
    "陈一诺",
    "杨梓轩",
    "王浩宇",
)
# Homophones that data entry confuses (the most frequent name error).
HOMOPHONES: dict[str, str] = {
    "晓": "小筱", "小": "晓", "轩": "宣萱", "萱": "轩宣", "涵": "晗函寒", "宇": "雨语羽", "雨": "宇语",
    "子": "梓紫", "梓": "子紫", "欣": "心馨新", "浩": "皓昊", "昊": "浩皓", "怡": "宜仪", "琪": "琦淇",
    "俊": "骏峻", "杰": "洁捷", "博": "波柏", "思": "丝斯", "佳": "嘉家", "嘉": "佳家", "晨": "辰宸",
    "辰": "晨宸", "铭": "明名", "明": "铭鸣", "瑶": "遥谣", "彤": "桐童", "泽": "择", "然": "燃",
    "睿": "瑞锐", "雪": "学", "婷": "庭亭", "伟": "玮炜", "芳": "方", "丽": "莉俐", "磊": "蕾", "军": "君",
    "敏": "闵", "涛": "韬", "一": "依伊", "诺": "懦", "逸": "毅奕", "悦": "月越", "馨": "欣新",
    "静": "靖婧", "宁": "凝", "航": "杭", "鑫": "新欣", "颖": "莹盈", "慧": "惠蕙", "玉": "钰煜",
}  # fmt: skip
UYGHUR_PARTS = (
    "阿不都",
    "买买提",
    "艾尼瓦尔",
    "古丽",
    "帕提古丽",
    "努尔",
    "迪丽",
    "热依拉",
    "麦尔丹",
    "阿依",
)
UYGHUR_FAMILY = ("热合曼", "艾力", "吐尔逊", "努尔", "买买提", "阿不都拉", "依明", "卡德尔", "艾买提")
TIBETAN_PARTS = (
    "扎西",
    "次仁",
    "格桑",
    "卓玛",
    "多吉",
    "央金",
    "旦增",
    "拉姆",
    "尼玛",
    "达瓦",
    "索朗",
    "德吉",
)
LATIN_GIVEN = ("JOHN", "ANNA", "MINJUN", "SEOYEON", "DAVID", "MARIA", "HIROSHI", "YUKI", "IVAN", "OLGA")
LATIN_FAMILY = ("SMITH", "KIM", "LEE", "PARK", "TANAKA", "IVANOV", "GARCIA", "NGUYEN", "MULLER", "BROWN")
LATIN_NATIONALITY = ("USA", "KOR", "KOR", "JPN", "RUS", "ESP", "VNM", "DEU", "GBR")
OTHER_ETHNICITIES = ("03", "08", "11", "06", "07", "15", "02", "10")

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
BIRTH_FIRST = date(2008, 1, 1)
BIRTH_DAYS = (date(2022, 12, 31) - BIRTH_FIRST).days + 1
# A handful of days on which the very common names are concentrated, to force collisions.
COLLISION_DAYS = (date(2015, 3, 7), date(2016, 9, 1), date(2018, 1, 1), date(2012, 10, 8))


def check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits of a GB 11643 number."""
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


@lru_cache(maxsize=1)
def county_codes() -> tuple[str, ...]:
    """Current county-level GB/T 2260 codes, from the table python-stdnum ships."""
    codes: list[str] = []
    for _, province, _, _, counties in numdb.get("cn/loc").prefixes:
        for _, county, _, props, _ in counties:
            name = props.get("county", "")
            if county.endswith("00") or county.endswith("01") or "市辖区" in name:
                continue
            current = name.rsplit(",", 1)[-1]
            if current.startswith("[") and not current.split("]")[0].endswith("-"):
                continue  # abolished
            codes.append(province + county)
    return tuple(codes)


@dataclass(frozen=True, slots=True)
class _Person:
    record: CanonicalRecord
    twin_of: int | None = None


class _PopulationBuilder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 (reproducible sampling, not security)
        self.regions = county_codes()
        self.used_ids: set[str] = set()
        self.surname_cum = _cumulative([1.0 / (i + 3) for i in range(len(SURNAMES))])

    def surname(self) -> str:
        rng = self.rng
        if rng.random() < 0.01:
            return rng.choice(COMPOUND_SURNAMES)
        return rng.choices(SURNAMES, cum_weights=self.surname_cum)[0]

    def child_given(self) -> str:
        rng = self.rng
        n = 1 if rng.random() < 0.15 else 2
        return "".join(rng.choice(CHILD_GIVEN) for _ in range(n))

    def id_number(self, region: str, born: date, gender: str, sequence: int | None = None) -> str:
        rng = self.rng
        ymd = born.strftime("%Y%m%d")
        while True:
            seq = sequence if sequence is not None else rng.randrange(0, 500)
            digit3 = seq * 2 + (1 if gender == "1" else 0)
            digit3 = digit3 % 1000
            first17 = f"{region}{ymd}{digit3:03d}"
            number = first17 + check_character(first17)
            if number not in self.used_ids:
                self.used_ids.add(number)
                return number
            sequence = None if sequence is None else sequence + 1

    def person(self, index: int) -> list[CanonicalRecord]:
        rng = self.rng
        region = rng.choice(self.regions)
        gender = "1" if rng.random() < 0.52 else "2"
        born = BIRTH_FIRST + timedelta(days=rng.randrange(BIRTH_DAYS))
        ethnicity = "01"
        nationality = "CHN"
        id_type = "resident_id"
        roll = rng.random()
        surname = self.surname()
        guardian = surname + rng.choice(GUARDIAN_GIVEN)
        if roll < 0.02:
            ethnicity = "05"
            name = rng.choice(UYGHUR_PARTS) + "·" + rng.choice(UYGHUR_FAMILY)
            guardian = rng.choice(UYGHUR_PARTS) + "·" + rng.choice(UYGHUR_FAMILY)
        elif roll < 0.03:
            ethnicity = "04"
            name = rng.choice(TIBETAN_PARTS) + rng.choice(TIBETAN_PARTS)
            guardian = rng.choice(TIBETAN_PARTS) + rng.choice(TIBETAN_PARTS)
        elif roll < 0.035:
            nationality = rng.choice(LATIN_NATIONALITY)
            family = rng.choice(LATIN_FAMILY)
            # Canonical Latin names are upper case with their words sorted (record-schema.md).
            name = " ".join(sorted((family, rng.choice(LATIN_GIVEN))))
            guardian = " ".join(sorted((family, rng.choice(LATIN_GIVEN))))
            ethnicity = ""
            id_type = "passport"
        elif roll < 0.065:
            name = rng.choice(COMMON_NAMES)
            guardian = name[0] + rng.choice(GUARDIAN_GIVEN)
            if rng.random() < 0.5:
                born = rng.choice(COLLISION_DAYS)
        else:
            name = surname + self.child_given()
            if rng.random() < 0.08:
                ethnicity = rng.choice(OTHER_ETHNICITIES)
        if id_type == "passport":
            number: str | None = f"{nationality[0]}{rng.randrange(10**7, 10**8)}"
        elif rng.random() < 0.04:
            id_type, number = "none", None
        else:
            number = self.id_number(region, born, gender)
        record = CanonicalRecord(
            record_id=f"P{index:08d}",
            name=name,
            gender=gender,
            birth_date=born,
            ethnicity=ethnicity or None,
            id_type=id_type,
            id_number=number,
            nationality=nationality,
            household_region=region,
            guardian_name=guardian,
            school_code=f"{region}{rng.randrange(10000):04d}",
        )
        if (
            id_type != "resident_id" or ethnicity != "01" or not name.startswith(surname)
            or rng.random() >= 0.012
        ):  # fmt: skip
            return [record]
        # Twins: same surname, birth date, household and guardian; sequential ID numbers.
        twin_gender = gender if rng.random() < 0.6 else ("2" if gender == "1" else "1")
        base_seq = int(number[14:17]) // 2 if number else 0
        twin_number = self.id_number(region, born, twin_gender, base_seq + 1)
        given = name[len(surname) :]
        twin_given = given
        while twin_given == given:
            twin_given = (given[0] if len(given) == 2 and rng.random() < 0.5 else "") + self.child_given()
            twin_given = twin_given[:2]
        twin = replace(
            record, record_id=f"P{index + 1:08d}", name=surname + twin_given, gender=twin_gender,
            id_number=twin_number,
        )  # fmt: skip
        return [record, twin]


def _cumulative(weights: list[float]) -> list[float]:
    total = 0.0
    out = []
    for w in weights:
        total += w
        out.append(total)
    return out


def iter_population(n: int, seed: int) -> Iterator[CanonicalRecord]:
    """Stream ``n`` clean, distinct persons (record_id ``P00000000`` ...), deterministic for ``seed``."""
    builder = _PopulationBuilder(seed)
    produced = 0
    while produced < n:
        for record in builder.person(produced):
            if produced < n:
                yield record
                produced += 1


def generate_population(n: int, seed: int) -> list[CanonicalRecord]:
    """``n`` clean, distinct persons with valid ID numbers, regions and guardians."""
    return list(iter_population(n, seed))


# --- labelled, messy submissions -----------------------------------------------------------------

# Corruptions a duplicate submission may carry, with relative frequencies.
CORRUPTIONS: dict[str, float] = {
    "homophone": 10, "traditional": 4, "spaced_fullwidth": 4, "day_month_swap": 3, "one_day_slip": 3,
    "one_year_slip": 3, "id_substitution": 4, "id_transposition": 3, "id_of_other_person": 1,
    "id_missing": 2, "guardian_changed": 3, "guardian_homophone": 2, "household_moved": 3, "gender_blank": 2,
    "given_name_typo": 1,
}  # fmt: skip
ID_CORRUPTIONS = frozenset({"id_substitution", "id_transposition", "id_of_other_person", "id_missing"})
HARD_CASES = frozenset(CORRUPTIONS) | {"twins", "common_name_same_birth_date", "no_id_document",
                                       "minority_name", "latin_name"}  # fmt: skip

CSV_COLUMNS = (
    "record_id", "name", "gender", "birth_date", "ethnicity", "id_type", "id_number", "nationality",
    "household_region", "guardian_name", "school_code",
)  # fmt: skip
_FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
_SEPARATORS = ("·", ".", "•", "・", "．", " ", "")
_DATE_FORMATS = ("{y:04d}-{m:02d}-{d:02d}", "{y}/{m}/{d}", "{y:04d}{m:02d}{d:02d}", "{y:04d}.{m:02d}.{d:02d}",
                 "{y}年{m}月{d}日")  # fmt: skip
_GENDER_FORMS = {"1": ("1", "男", "M", "male"), "2": ("2", "女", "F", "female")}


@dataclass(frozen=True)
class LabelledData:
    """Raw submissions (as CSV rows read) with the person behind each and the hard cases it carries."""

    rows: list[dict[str, str]]
    person_of: dict[str, str]
    cases: dict[str, tuple[str, ...]]
    persons: int

    def true_pairs(self) -> set[tuple[str, str]]:
        """Every unordered pair of record ids (smaller first) that belong to one person."""
        by_person: dict[str, list[str]] = {}
        for record_id, person in self.person_of.items():
            by_person.setdefault(person, []).append(record_id)
        pairs: set[tuple[str, str]] = set()
        for ids in by_person.values():
            ids.sort()
            for i, a in enumerate(ids):
                for b in ids[i + 1 :]:
                    pairs.add((a, b))
        return pairs


@lru_cache(maxsize=1)
def _to_traditional() -> opencc.OpenCC:
    return opencc.OpenCC("s2t")


class _Messer:
    def __init__(self, rng: random.Random, population: list[CanonicalRecord]) -> None:
        self.rng = rng
        self.population = population
        self.regions = county_codes()
        self.corruption_names = list(CORRUPTIONS)
        self.corruption_cum = _cumulative(list(CORRUPTIONS.values()))

    def formatted(self, record: CanonicalRecord, record_id: str) -> dict[str, str]:
        """The record as a school would type it: same information, varied spelling."""
        rng = self.rng
        born = record.birth_date
        name = record.name
        if "·" in name:
            name = name.replace("·", rng.choice(_SEPARATORS))
        elif " " in name:
            words = name.split()
            rng.shuffle(words)
            name = " ".join(words)
            name = name.lower() if rng.random() < 0.3 else name.title() if rng.random() < 0.3 else name
        number = record.id_number or ""
        if number and rng.random() < 0.05:
            number = number.lower()
        ethnicity = record.ethnicity or ""
        if ethnicity == "01" and rng.random() < 0.2:
            ethnicity = rng.choice(("汉族", "汉"))
        return {
            "record_id": record_id,
            "name": name,
            "gender": rng.choice(_GENDER_FORMS[record.gender]) if record.gender in _GENDER_FORMS else "",
            "birth_date": rng.choice(_DATE_FORMATS).format(y=born.year, m=born.month, d=born.day),
            "ethnicity": ethnicity,
            "id_type": record.id_type,
            "id_number": number,
            "nationality": record.nationality,
            "household_region": record.household_region or "",
            "guardian_name": record.guardian_name or "",
            "school_code": record.school_code or "",
        }

    def corrupt(self, record: CanonicalRecord, kind: str) -> CanonicalRecord | dict[str, str] | None:
        """Apply one corruption to the information; ``None`` when it does not apply to this person.
        Spelling-only corruptions (traditional, full-width) return a marker dict applied later."""
        rng = self.rng
        han = record.nationality == "CHN" and " " not in record.name and "·" not in record.name
        if kind in ID_CORRUPTIONS and record.id_type != "resident_id":
            return None
        if kind == "homophone":
            if not han:
                return None
            positions = [i for i, ch in enumerate(record.name) if i > 0 and ch in HOMOPHONES]
            if not positions:
                return None
            i = rng.choice(positions)
            name = record.name[:i] + rng.choice(HOMOPHONES[record.name[i]]) + record.name[i + 1 :]
            return replace(record, name=name)
        if kind == "guardian_homophone":
            guardian = record.guardian_name or ""
            positions = [i for i, ch in enumerate(guardian) if i > 0 and ch in HOMOPHONES]
            if not han or not positions:
                return None
            i = rng.choice(positions)
            return replace(
                record, guardian_name=guardian[:i] + rng.choice(HOMOPHONES[guardian[i]]) + guardian[i + 1 :]
            )
        if kind == "given_name_typo":
            if not han or len(record.name) < 2:
                return None
            i = len(record.name) - 1
            name = record.name[:i] + rng.choice([c for c in CHILD_GIVEN if c != record.name[i]])
            return replace(record, name=name)
        if kind in ("traditional", "spaced_fullwidth"):
            return {"spelling": kind} if han else None
        born = record.birth_date
        if kind == "day_month_swap":
            if born.day > 12 or born.day == born.month:
                return None
            return replace(record, birth_date=date(born.year, born.day, born.month))
        if kind == "one_day_slip":
            return replace(record, birth_date=born + timedelta(days=rng.choice((-1, 1))))
        if kind == "one_year_slip":
            if born.month == 2 and born.day == 29:
                return None
            return replace(record, birth_date=born.replace(year=born.year + rng.choice((-1, 1))))
        number = record.id_number or ""
        if kind == "id_substitution":
            i = rng.randrange(17)
            digit = rng.choice([d for d in "0123456789" if d != number[i]])
            return replace(record, id_number=number[:i] + digit + number[i + 1 :])
        if kind == "id_transposition":
            spots = [i for i in range(17) if number[i] != number[i + 1]]
            i = rng.choice(spots)
            return replace(record, id_number=number[:i] + number[i + 1] + number[i] + number[i + 2 :])
        if kind == "id_of_other_person":
            other = rng.choice(self.population)
            if other.id_type != "resident_id" or other.id_number == number:
                return None
            return replace(record, id_number=other.id_number)
        if kind == "id_missing":
            return replace(record, id_type="none", id_number=None)
        if kind == "guardian_changed":
            return replace(record, guardian_name=rng.choice(SURNAMES) + rng.choice(GUARDIAN_GIVEN))
        if kind == "household_moved":
            region = record.household_region or ""
            near = [r for r in self.regions if r[:4] == region[:4] and r != region] or [
                r for r in self.regions if r[:2] == region[:2] and r != region
            ]
            return replace(record, household_region=rng.choice(near)) if near else None
        if kind == "gender_blank":
            return replace(record, gender="9")
        raise ValueError(kind)

    def duplicate(self, record: CanonicalRecord, record_id: str) -> tuple[dict[str, str], tuple[str, ...]]:
        rng = self.rng
        wanted = 0 if rng.random() < 0.1 else 1 if rng.random() < 0.67 else 2
        applied: list[str] = []
        spelling: list[str] = []
        attempts = 0
        while len(applied) + len(spelling) < wanted and attempts < 20:
            attempts += 1
            kind = rng.choices(self.corruption_names, cum_weights=self.corruption_cum)[0]
            if kind in applied or kind in spelling:
                continue
            if kind in ID_CORRUPTIONS and any(k in ID_CORRUPTIONS for k in applied):
                continue
            result = self.corrupt(record, kind)
            if result is None:
                continue
            if isinstance(result, dict):
                spelling.append(kind)
            else:
                record = result
                applied.append(kind)
        row = self.formatted(record, record_id)
        if record.gender == "9":
            row["gender"] = ""
        if "traditional" in spelling:
            row["name"] = _to_traditional().convert(row["name"])
            row["guardian_name"] = _to_traditional().convert(row["guardian_name"])
        if "spaced_fullwidth" in spelling:
            row["name"] = "\u3000".join(row["name"]) if rng.random() < 0.5 else " ".join(row["name"])
            row["id_number"] = row["id_number"].upper().translate(_FULLWIDTH)
        return row, tuple(applied + spelling)


def _person_cases(record: CanonicalRecord, twins: set[str], collisions: set[str]) -> list[str]:
    cases = []
    if record.record_id in twins:
        cases.append("twins")
    if record.record_id in collisions:
        cases.append("common_name_same_birth_date")
    if record.id_type == "none":
        cases.append("no_id_document")
    if "·" in record.name:
        cases.append("minority_name")
    if " " in record.name:
        cases.append("latin_name")
    return cases


def generate_labelled(n_persons: int, seed: int, duplicate_rate: float = 0.3) -> LabelledData:
    """Messy submissions of ``n_persons`` persons: each once, and about ``duplicate_rate`` of them again
    (a few three times) with the hard cases applied; deterministic for ``seed``."""
    population = generate_population(n_persons, seed)
    rng = random.Random(seed + 1)  # noqa: S311 (reproducible sampling, not security)
    messer = _Messer(rng, population)
    twins: set[str] = set()
    family: dict[tuple[str, str, str | None], list[str]] = {}
    same_day: dict[tuple[str, date], list[str]] = {}
    for p in population:
        if p.record_id is None:
            continue
        family.setdefault((p.name[0], p.birth_date.isoformat(), p.household_region), []).append(p.record_id)
        if p.name in COMMON_NAMES:
            same_day.setdefault((p.name, p.birth_date), []).append(p.record_id)
    for ids in family.values():
        if len(ids) > 1:
            twins.update(ids)
    collisions = {rid for ids in same_day.values() if len(ids) > 1 for rid in ids}
    rows: list[dict[str, str]] = []
    person_of: dict[str, str] = {}
    cases: dict[str, tuple[str, ...]] = {}
    counter = 0
    for person in population:
        person_id = person.record_id or ""
        base_cases = _person_cases(person, twins, collisions)
        copies = 1
        if rng.random() < duplicate_rate:
            copies = 3 if rng.random() < 0.1 else 2
        for copy in range(copies):
            record_id = f"R{counter:08d}"
            counter += 1
            if copy == 0:
                row = messer.formatted(person, record_id)
                applied: tuple[str, ...] = ()
            else:
                row, applied = messer.duplicate(person, record_id)
            rows.append(row)
            person_of[record_id] = person_id
            cases[record_id] = tuple(base_cases) + applied
    # Shuffle so that files are not sorted by person (a batch run must not rely on order).
    rng.shuffle(rows)
    return LabelledData(rows=rows, person_of=person_of, cases=cases, persons=n_persons)
