from telehealth.text import MAX_NLU_CHARS, dominant_script, has_words, normalize


def test_digits_of_three_systems_become_ascii():
    assert normalize("۳ دن") == "3 دن"
    assert normalize("٣ ايام") == "3 ایام"
    assert normalize("age ۴۵") == "age 45"


def test_arabic_letter_variants_become_urdu_letters():
    # Arabic kaf, yeh and heh typed on an Arabic keyboard match the Urdu spelling.
    assert normalize("كرونا") == normalize("کرونا")
    assert normalize("مجهے بخار هے") == "مجہے بخار ہے"
    assert normalize("علي") == "علی"


def test_zero_width_tatweel_and_vowel_marks_are_removed():
    assert normalize("کرو\u200cنا") == "کرونا"
    assert normalize("بـــخار") == "بخار"
    assert normalize("بُخار") == "بخار"
    assert normalize("\u200fسلام\u200e") == "سلام"


def test_the_lexicon_match_form_ignores_kashmiri_vowel_signs_and_letters_but_nlu_keeps_them():
    from telehealth.text import match_form

    assert match_form("چھُ نہٕ") == match_form("چھ نہ") == "چھ نہ"
    assert match_form("دۄد") == "دود" and match_form("ٲٹھ") == "اٹھ"
    assert match_form("مجھے ۳ دن سے بخار ہے") == normalize("مجھے ۳ دن سے بخار ہے")  # Urdu unchanged
    assert normalize("نہٕ") != normalize("نہ")  # a Kashmiri cue for language detection


def test_latin_is_lowercased_and_stretched_letters_collapse():
    assert normalize("BUKHAAAAR hai") == "bukhaar hai"
    assert normalize("  hello   there \n") == "hello there"


def test_presentation_forms_fold_to_letters():
    # U+FEB3 U+FEE0 U+FE8E U+FEE1: "سلام" in Arabic presentation forms.
    assert normalize("\ufeb3\ufee0\ufe8e\ufee1") == "سلام"


def test_empty_and_huge_inputs():
    assert normalize("") == ""
    assert normalize(None) == ""
    assert len(normalize("a " * 5000)) == MAX_NLU_CHARS


def test_script_and_words():
    assert dominant_script("mujhe bukhar hai") == "latin"
    assert dominant_script("مجھے fever ہے") == "arabic"
    assert dominant_script("😷🤒") is None
    assert not has_words("😷 !!! 🤒")
    assert has_words("ok 👍")
