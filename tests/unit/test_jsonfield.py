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
