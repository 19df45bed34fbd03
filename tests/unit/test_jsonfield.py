import pytest

from services.core import jsonfield


@pytest.mark.parametrize(
    "value",
    [
        {"a.b": {"$c": [[1], [[2]]]}},
        2**100,
        "żółw 🐢",
        [None, True, 0.1, -0.0, 1e300],
        {"order": 1, "kept": 2, "as": 3},
    ],
)
def test_round_trip_is_exact(value: object) -> None:
    text = jsonfield.dump(value)
    assert isinstance(text, str)
    back = jsonfield.load(text)
    assert back == value
    assert jsonfield.dump(back) == text


def test_none_stays_none() -> None:
    assert jsonfield.load(None) is None


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [{"x": -float("inf")}]])
def test_nan_and_infinity_are_never_stored(value: object) -> None:
    with pytest.raises(ValueError):
        jsonfield.dump(value)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"[1e400]", "the number 1e400 is too large"),
        (b'{"a": -Infinity}', "-Infinity is not a JSON number"),
        (b'"\\udbff"', "lone surrogate"),
        (b"\xff", "not UTF-8"),
        (b"\xed\xa0\x80", "not UTF-8"),  # a surrogate encoded in UTF-8
        (b"1" * 5000, "too many digits"),
        (b"[" * 3 + b"]" * 3, "deeper than 2 levels"),
        (b'{"a": {"b": {"c": 1}}}', "deeper than 2 levels"),
        (b"[" * 100_000, "deeper than 2 levels"),
        (b"{", "line 1 column 2"),
    ],
)
def test_parse_refuses_what_is_not_strict_json(data: bytes, words: str) -> None:
    with pytest.raises(jsonfield.InvalidJson, match=words):
        jsonfield.parse(data, max_depth=2)


def test_parse_keeps_what_is() -> None:
    # A surrogate pair is one character; an escaped backslash before "ud800" is no escape.
    text = '{"a": [["\\ud83d\\ude00", "\\\\ud800", 1e308]]}'
    assert jsonfield.parse(text.encode(), max_depth=3) == {"a": [["😀", "\\ud800", 1e308]]}
