from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.identity import (
    InvalidField,
    name_matching_key,
    name_pinyin,
    name_pinyin_variants,
    normalise_name,
    split_surname,
)


class TestChineseNames:
    @pytest.mark.parametrize(
        ("raw", "canonical"),
        [
            ("张伟", "张伟"),
            ("張偉", "张伟"),
            ("張 偉", "张伟"),
            (" 王 子 涵 ", "王子涵"),
            ("欧阳 娜娜", "欧阳娜娜"),
            ("歐陽娜娜", "欧阳娜娜"),
            ("李\u200b明", "李明"),
            ("李\u3000明", "李明"),
            ("李\t明", "李明"),
            ("\ufeff刘洋", "刘洋"),
            ("王〇", "王〇"),
            ("於梨華", "於梨华"),
            ("關於", "关于"),
        ],
    )
    def test_han_names(self, raw: str, canonical: str) -> None:
        assert normalise_name(raw) == canonical

    @pytest.mark.parametrize(
        "raw",
        [
            "阿依古丽·买买提",
            "阿依古丽.买买提",
            "阿依古丽•买买提",
            "阿依古丽・买买提",
            "阿依古丽．买买提",
            "阿依古丽･买买提",
            "阿依古丽 买买提",
            "阿依古丽 · 买买提",
            "阿依古丽··买买提",
            "·阿依古丽·买买提·",
            "阿依古麗·買買提",
        ],
    )
    def test_minority_name_separators_unified(self, raw: str) -> None:
        assert normalise_name(raw) == "阿依古丽·买买提"

    def test_minority_name_without_separator_is_kept_whole(self) -> None:
        assert normalise_name("阿依古丽买买提") == "阿依古丽买买提"

    def test_three_part_minority_name(self) -> None:
        assert normalise_name("娜仁 其其格 巴特尔") == "娜仁·其其格·巴特尔"


class TestLatinNames:
    @pytest.mark.parametrize(
        ("raw", "canonical"),
        [
            ("john smith", "JOHN SMITH"),
            ("SMITH JOHN", "SMITH JOHN"),
            ("Smith, John", "SMITH JOHN"),
            ("  smith   john ", "SMITH JOHN"),
            ("ｊｏｈｎ　ｓｍｉｔｈ", "JOHN SMITH"),
            ("Mary-Jane O’Neil", "MARY-JANE O'NEIL"),
            ("josé garcía", "JOSÉ GARCÍA"),
            ("J. R. Tolkien", "J R TOLKIEN"),
        ],
    )
    def test_upper_case_single_spaces_in_the_order_written(self, raw: str, canonical: str) -> None:
        assert normalise_name(raw) == canonical

    def test_part_order_does_not_matter_to_the_matching_key(self) -> None:
        assert normalise_name("Nguyen Van An") == "NGUYEN VAN AN"
        assert name_matching_key(normalise_name("Nguyen Van An")) == name_matching_key(
            normalise_name("an van nguyen")
        )
        # A name stored sorted (before names were kept as written) still meets the written one.
        assert name_matching_key("AN NGUYEN VAN") == name_matching_key(normalise_name("Nguyen Van An"))
        assert name_pinyin("an van nguyen") == name_pinyin("Nguyen Van An")


class TestRefusals:
    @pytest.mark.parametrize(
        ("raw", "code"),
        [
            (None, "missing"),
            ("", "missing"),
            ("   ", "missing"),
            ("\u200b", "bad_character"),
            ("张Wei", "mixed_scripts"),
            ("Иван Петров", "unsupported_script"),
            ("محمد", "unsupported_script"),
            ("123", "bad_character"),
            ("张三3", "bad_character"),
            ("<script>alert(1)</script>", "bad_character"),
            ("<b>张伟</b>", "mixed_scripts"),
            ("张伟<br>", "mixed_scripts"),
            ("张伟'; DROP TABLE students;--", "mixed_scripts"),
            ("'; DROP TABLE students;--", "bad_character"),
            ("1 OR 1=1", "bad_character"),
            ("张\x00伟", "control_character"),
            ("张\x07伟", "control_character"),
            ("张" * 300, "too_long"),
            ("张" * 65, "too_long"),
            ("张伟😀", "bad_character"),
            ("·", "bad_character"),
        ],
    )
    def test_clear_error(self, raw: str | None, code: str) -> None:
        with pytest.raises(InvalidField) as caught:
            normalise_name(raw)
        assert caught.value.code == code
        assert caught.value.field == "name"

    def test_field_name_is_reported(self) -> None:
        with pytest.raises(InvalidField) as caught:
            normalise_name("", "guardian_name")
        assert caught.value.field == "guardian_name"

    @given(st.text(max_size=300))
    def test_any_text_gives_a_name_or_a_clear_error(self, text: str) -> None:
        try:
            canonical = normalise_name(text)
        except InvalidField as exc:
            assert exc.code
            return
        assert canonical == canonical.strip()
        assert "  " not in canonical
        assert normalise_name(canonical) == canonical

    @given(
        st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=1, max_size=10)
    )
    def test_han_names_are_idempotent_and_spaceless(self, text: str) -> None:
        canonical = normalise_name(text)
        assert " " not in canonical
        assert normalise_name(canonical) == canonical


class TestPinyin:
    @pytest.mark.parametrize(
        ("name", "reading"),
        [
            ("张伟", "zhang wei"),
            ("曾小贤", "zeng xiao xian"),
            ("单田芳", "shan tian fang"),
            ("解缙", "xie jin"),
            ("仇英", "qiu ying"),
            ("区志强", "ou zhi qiang"),
            ("查良镛", "zha liang yong"),
            ("朴树", "piao shu"),
            ("乐嘉", "yue jia"),
            ("尉迟恭", "yu chi gong"),
            ("万俟卨", "mo qi xie"),
            ("长孙无忌", "zhang sun wu ji"),
            ("欧阳娜娜", "ou yang na na"),
            ("吕小绿", "lv xiao lv"),
            ("張曉涵", "zhang xiao han"),
            ("阿依古丽·买买提", "a yi gu li mai mai ti"),
            ("John Smith", "john smith"),
        ],
    )
    def test_most_likely_reading_is_surname_aware(self, name: str, reading: str) -> None:
        assert name_pinyin(name) == reading

    def test_homophone_typing_errors_share_a_key(self) -> None:
        assert name_pinyin("王晓涵") == name_pinyin("王小晗")
        assert name_pinyin("李轩") == name_pinyin("李宣")

    def test_variants_keep_heteronym_readings(self) -> None:
        variants = name_pinyin_variants("曾单")
        assert "zeng shan" in variants
        assert "ceng dan" in variants

    def test_variants_include_the_most_likely_reading(self) -> None:
        for name in ["曾小贤", "解缙", "长孙无忌", "阿依古丽·买买提", "乐乐"]:
            assert name_pinyin(name) in name_pinyin_variants(name)

    def test_variants_are_capped(self) -> None:
        variants = name_pinyin_variants("阿依古丽·买买提", limit=4)
        assert len(variants) == 4
        assert name_pinyin("阿依古丽·买买提") in variants

    def test_latin_name_has_one_variant(self) -> None:
        assert name_pinyin_variants("smith john") == frozenset({"john smith"})

    def test_unusable_name_raises(self) -> None:
        with pytest.raises(InvalidField):
            name_pinyin("123")

    @given(
        st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=1, max_size=8)
    )
    def test_reading_shape(self, text: str) -> None:
        reading = name_pinyin(text)
        assert reading == reading.strip() and "  " not in reading
        assert len(reading.split(" ")) == len(normalise_name(text))


def test_split_surname() -> None:
    assert split_surname("张伟") == ("张", "伟")
    assert split_surname("欧阳娜娜") == ("欧阳", "娜娜")
    assert split_surname("阿依古丽·买买提") == ("", "阿依古丽·买买提")
    assert split_surname("JOHN SMITH") == ("", "JOHN SMITH")
