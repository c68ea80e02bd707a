from dataclasses import dataclass

from vlmkit.core.fields import type_problems


@dataclass
class Example:
    steps: int
    lr: float
    name: str | None
    weights: dict
    flag: bool


def test_values_are_checked_against_the_type_hints():
    good = {"steps": 3, "lr": 1, "name": None, "weights": {}, "flag": False}  # an int is a fine float
    assert type_problems(Example, good) == []
    bad = {"steps": True, "lr": True, "name": 5, "weights": [], "flag": 1}
    assert type_problems(Example, bad) == ["steps=True is not int", "lr=True is not float", "name=5 is not str or None",
                                           "weights=[] is not dict", "flag=1 is not bool"]
