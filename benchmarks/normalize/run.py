"""Throughput of `gateway normalize`: generates a messy school file (100,000 rows by default: traditional
and spaced names, minority and Latin names, every date format, legacy and lower-case ID numbers, a few
percent of broken rows), runs the normalize command over it in-process and prints rows per second.

    .venv/bin/python benchmarks/normalize/run.py [--rows N] [--seed S] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import opencc
import typer
from typer.testing import CliRunner

from gateway.identity import RECORD_FIELDS
from gateway.identity.commands import normalize

HEADER = list(RECORD_FIELDS)
SURNAMES = [*"王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曾单解乐仇", "欧阳", "司马", "诸葛"]
GIVEN = list("子涵浩宇梓轩晓小晗宣欣怡雨桐一诺思琪俊杰佳豪明伟芳娜静丽强磊军洋勇艳杰娟涛超")
MINORITY = ["阿依古丽", "买买提", "古丽娜尔", "艾力", "热依拉", "娜仁", "其其格", "巴特尔", "吐尔逊"]
LATIN = ["John Smith", "smith, mary", "Nguyen Van An", "KIM MIN-JUN", "o'neil sean"]
REGIONS = ["110105", "110108", "310115", "440305", "320102", "510104", "650102", "110103", "530102"]
SEPARATORS = ["·", ".", "•", "・", "．", " "]
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def check_char(first17: str) -> str:
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def messy_name(rng: random.Random, to_traditional: opencc.OpenCC) -> str:
    roll = rng.random()
    if roll < 0.03:
        return rng.choice(LATIN)
    if roll < 0.08:
        sep = rng.choice(SEPARATORS)
        return sep.join(rng.sample(MINORITY, 2))
    name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice([1, 2, 2])))
    if rng.random() < 0.15:
        name = str(to_traditional.convert(name))
    if rng.random() < 0.1:
        name = " ".join(name)
    if rng.random() < 0.05:
        name = f" {name}\u3000"
    if rng.random() < 0.01:
        name = name + "<br>"
    return name


def messy_date(rng: random.Random, born: date) -> str:
    formats = [
        "{d:%Y-%m-%d}",
        "{d.year}/{d.month}/{d.day}",
        "{d:%Y%m%d}",
        "{d:%Y.%m.%d}",
        "{d.year}年{d.month}月{d.day}日",
    ]
    text = rng.choice(formats).format(d=born)
    if rng.random() < 0.01:
        text = text.replace("-0", "-3").replace("/", "/3", 1)  # impossible or unparsable dates
    return text


def messy_row(rng: random.Random, index: int, to_traditional: opencc.OpenCC) -> list[str]:
    born = date(2008, 1, 1) + timedelta(days=rng.randrange(0, 365 * 12))
    male = rng.random() < 0.5
    region = rng.choice(REGIONS)
    sequence = f"{rng.randrange(0, 50):02d}{rng.choice('13579' if male else '02468')}"
    gender = rng.choice(["1", "男", "M", "male"] if male else ["2", "女", "F", "female"])
    if rng.random() < 0.05:
        gender = ""
    elif rng.random() < 0.01:
        gender = "2" if male else "1"  # disagrees with the ID number: a flag, not an error
    id_type, number = "resident_id", ""
    roll = rng.random()
    if roll < 0.04:
        id_type = rng.choice(["none", "-"])
    elif roll < 0.06:
        id_type, number = "A", f"E{rng.randrange(10**7, 10**8)}"
    else:
        first17 = f"{region}{born:%Y%m%d}{sequence}"
        number = first17 + check_char(first17)
        if rng.random() < 0.03:
            number = number[:-1] + ("0" if number[-1] != "0" else "1")
        if rng.random() < 0.1:
            number = number.lower()[:6] + " " + number[6:14] + " " + number[14:]
        id_type = rng.choice(["resident_id", "1", "居民身份证"])
    guardian = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=2))
    return [
        f"r{index}",
        messy_name(rng, to_traditional),
        gender,
        messy_date(rng, born),
        rng.choice(["01", "1", "汉族", "汉", "回族", "维吾尔", "", ""]),
        id_type,
        number,
        rng.choice(["", "", "CHN", "chn"]),
        rng.choice([*REGIONS, ""]),
        guardian,
        rng.choice(["", "1111000001", "1231000123"]),
    ]


def generate(path: Path, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    to_traditional = opencc.OpenCC("s2t")
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for index in range(rows):
            writer.writerow(messy_row(rng, index, to_traditional))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20260601)
    parser.add_argument("--keep", type=Path, help="write the files here instead of a temporary folder")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        source, out = folder / "school.csv", folder / "clean.csv"
        started = time.perf_counter()
        generate(source, args.rows, args.seed)
        print(f"generated {args.rows:,} rows in {time.perf_counter() - started:.1f} s")

        app = typer.Typer()
        app.command()(normalize)
        started = time.perf_counter()
        result = CliRunner().invoke(app, [str(source), "--out", str(out)])
        elapsed = time.perf_counter() - started
        if result.exit_code not in (0, 1):
            raise SystemExit(f"normalize failed: {result.output}")
        print(result.output.strip())
        print(f"normalize: {args.rows:,} rows in {elapsed:.2f} s = {args.rows / elapsed:,.0f} rows/s")


if __name__ == "__main__":
    main()
