"""Verdicts printed by the notebooks follow the numbers they are given, noise included."""

import math

import pytest

from vlmkit.evaluation.verdicts import change_verdict, gap_in_standard_errors, race_verdict


def test_gap_is_measured_in_standard_errors_of_two_shares():
    # 0.8 and 0.5 of 100 questions: se = sqrt((0.16 + 0.25) / 100) = 0.064
    assert gap_in_standard_errors(0.8, 0.5, 100) == pytest.approx(0.3 / math.sqrt(0.0041))
    assert gap_in_standard_errors(0.5, 0.5, 100) == 0.0
    assert math.isinf(gap_in_standard_errors(1.0, 0.0, 100))


def test_a_large_lead_is_called_more_than_noise_and_a_small_one_a_draw():
    race = {"tags": {"acc@0.5": 0.047}, "loc": {"acc@0.5": 0.020}, "box head": {"acc@0.5": 0.783}}
    verdict = race_verdict(race, "acc@0.5", 300)
    assert verdict.startswith("box head leads on acc@0.5 with 0.783, 0.736 ahead of tags (0.047)")
    assert verdict.endswith("more than noise.")
    close = race_verdict({"tags": {"acc@0.5": 0.047}, "loc": {"acc@0.5": 0.020}}, "acc@0.5", 300)
    assert "within the noise" in close and "does not tell tags and loc apart" in close
    # a tie names no leader
    assert race_verdict({"tags": {"acc@0.5": 0.0}, "loc": {"acc@0.5": 0.0}}, "acc@0.5", 300) == \
        "tags and loc tie on acc@0.5 at 0.000: this run does not tell them apart."
    # the same gap over many more questions is a difference
    assert race_verdict({"tags": {"acc@0.5": 0.047}, "loc": {"acc@0.5": 0.020}}, "acc@0.5", 5000).endswith(
        "more than noise.")


def test_changes_are_gained_lost_or_held_by_the_noise():
    assert change_verdict(0.07, 0.77, 150) == "gained 0.700"
    assert change_verdict(0.952, 0.954, 150).startswith("held (+0.002")
    assert change_verdict(0.90, 0.60, 150) == "lost 0.300"
    # lower is better (a distance, a loss): a fall is a gain
    assert change_verdict(0.4, 0.1, 150, higher_is_better=False) == "gained 0.300"


@pytest.mark.parametrize("call, message", [
    (lambda: race_verdict({"a": {"x": 0.1}}, "x", 10), "at least two entrants"),
    (lambda: race_verdict({"a": {"x": 0.1}, "b": {"y": 0.2}}, "x", 10), "not scored for"),
    (lambda: gap_in_standard_errors(0.5, 1.5, 10), r"shares or means in \[0, 1\]"),
    (lambda: gap_in_standard_errors(0.5, 0.4, 0), "at least 1"),
])
def test_bad_input_is_refused_with_a_reason(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_binding_is_judged_against_a_random_pick_among_the_found_objects():
    from vlmkit.evaluation.verdicts import binding_verdict

    reads = {2: {"queries": 400, "on_some": 0.95, "on_named": 0.93, "chance": 0.475},
             4: {"queries": 400, "on_some": 0.9, "on_named": 0.85, "chance": 0.225}}
    assert "it reads the phrase" in binding_verdict(reads) and "94% of the way" in binding_verdict(reads)
    # the demo's run without the curriculum: above chance, but little of the way
    weak = {2: {"queries": 1170, "on_some": 0.718, "on_named": 0.413, "chance": 0.359},
            4: {"queries": 3147, "on_some": 0.576, "on_named": 0.202, "chance": 0.144}}
    assert "it barely reads the phrase" in binding_verdict(weak)
    # the old recipe's table (docs/experiments/binding.md): where, not which
    guesses = {2: {"queries": 114, "on_some": 0.73, "on_named": 0.37, "chance": 0.365},
               3: {"queries": 243, "on_some": 0.75, "on_named": 0.26, "chance": 0.25}}
    assert binding_verdict(guesses).endswith("has not learned which object a phrase names.")
    with pytest.raises(ValueError, match="no queries"):
        binding_verdict({})


def test_a_score_that_is_not_a_share_is_judged_by_its_own_standard_errors():
    from vlmkit.evaluation.verdicts import metric_change

    start = {"cider": 0.0, "cider_se": 0.0, "n": 150}
    assert metric_change(start, {"cider": 0.93, "cider_se": 0.05, "n": 150}, "cider") == "gained 0.930"
    # 0.1 apart with standard errors of 0.08 each: 0.9 standard errors, a draw
    assert metric_change({"cider": 4.3, "cider_se": 0.08, "n": 150}, {"cider": 4.4, "cider_se": 0.08, "n": 150},
                         "cider").startswith("held (+0.100")
    # the same scores of different question sets compare through their standard errors
    assert metric_change({"cider": 3.4, "cider_se": 0.1, "n": 100}, start, "cider") == "lost 3.400"
    # a distance: smaller is better
    far, near = {"mean_distance": 19.6, "mean_distance_se": 1.0, "n": 150}, {"mean_distance": 4.4,
                                                                          "mean_distance_se": 0.3, "n": 150}
    assert metric_change(far, near, "mean_distance") == "gained 15.200"
    assert metric_change({**far, "mean_distance": float("nan")}, near, "mean_distance") == \
        "no verdict: mean_distance is not a number before"


def test_a_share_is_judged_by_its_questions_and_needs_the_same_ones():
    from vlmkit.evaluation.verdicts import metric_change

    assert metric_change({"acc@0.5": 0.952, "n": 150}, {"acc@0.5": 0.954, "n": 150}, "acc@0.5").startswith("held")
    assert metric_change({"inside": 0.07, "n": 150}, {"inside": 0.77, "n": 150}, "inside") == "gained 0.700"
    with pytest.raises(ValueError, match="count 150 and 100 questions"):
        metric_change({"acc@0.5": 0.9, "n": 150}, {"acc@0.5": 0.8, "n": 100}, "acc@0.5")
    with pytest.raises(ValueError, match=r"the after scores lack \['acc@0.5'\]"):
        metric_change({"acc@0.5": 0.9, "n": 150}, {"miou": 0.8, "n": 150}, "acc@0.5")
    with pytest.raises(ValueError, match=r"shares or means in \[0, 1\]"):  # CIDEr without its standard error
        metric_change({"cider": 3.4, "n": 100}, {"cider": 4.4, "n": 100}, "cider")


def test_a_race_on_a_score_that_is_not_a_share_uses_the_entrants_standard_errors():
    race = {"without": {"cider": 0.927, "cider_se": 0.04}, "with": {"cider": 0.917, "cider_se": 0.04}}
    assert race_verdict(race, "cider", 150).endswith("does not tell without and with apart.")
    race["with"] |= {"cider": 1.2}
    assert race_verdict(race, "cider", 150).startswith("with leads on cider with 1.200")
    assert race_verdict(race, "cider", 150).endswith("more than noise.")


def test_a_history_gives_each_recorded_station_its_change_and_says_what_is_missing():
    from vlmkit.evaluation.verdicts import history_lines

    lines = history_lines("cider", {"after 01": {"cider": 3.4, "cider_se": 0.1, "n": 100},
                                    "before 02": None,
                                    "start of 04": {"cider": 0.0, "cider_se": 0.0, "n": 150},
                                    "after the mixture": {"cider": 4.4, "cider_se": 0.1, "n": 150}})
    assert lines == ["after 01: cider 3.400 (100 questions)", "before 02: not recorded",
                     "start of 04: cider 0.000 (150 questions), lost 3.400",
                     "after the mixture: cider 4.400 (150 questions), gained 4.400"]
    # a station recorded without the standard error (an older vlmkit): the numbers, no verdict
    old = history_lines("cider", {"after 01": {"cider": 3.4, "n": 100}, "start": {"cider": 0.0, "cider_se": 0.0,
                                                                                  "n": 150}})
    assert old[1].startswith("start: cider 0.000 (150 questions), no verdict (")
