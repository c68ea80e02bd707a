"""Sentences about a run's own numbers, computed from them, so that a notebook's verdict ("the
box head won this race") is printed by the run it describes and never contradicts it.

Whether a difference is more than noise is judged with the standard error of a difference of
two shares of ``n`` questions each, sqrt(p1(1-p1)/n + p2(1-p2)/n): exact for shares such as
Acc@0.5 or P@0.5, an upper bound for means of values in [0, 1] such as mean IoU. Scores that
are not shares (a CIDEr, a distance in pixels) are judged by the standard errors their
evaluator scored beside them (``cider_se``, ``mean_distance_se``: the key ``<metric>_se``). A
gap of at least two standard errors counts as a difference; less, as a draw. Only the noise of
the questions asked is counted: another seed of the same training can land elsewhere too.
"""

from __future__ import annotations

import math
from typing import Mapping

NOISE_FACTOR = 2.0  # gaps under this many standard errors are read as noise
LOWER_IS_BETTER = frozenset({"mean_distance", "mean_distance_diag"})


def gap_in_standard_errors(a: float, b: float, n: int) -> float:
    """How many standard errors (of two shares of ``n`` each) lie between ``a`` and ``b``."""
    if n < 1:
        raise ValueError(f"n is the number of questions each score is a share of, at least 1; got {n}")
    for value in (a, b):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"scores must be shares or means in [0, 1]; got {value}")
    se = math.sqrt((a * (1 - a) + b * (1 - b)) / n)
    return math.inf if se == 0 and a != b else 0.0 if se == 0 else abs(a - b) / se


def race_verdict(results: Mapping[str, Mapping[str, float]], metric: str, n: int) -> str:
    """Who leads ``results`` (``{entrant: {metric: value}}``) on ``metric``, by how much, and
    whether that lead over the runner-up is more than the noise of ``n`` questions."""
    if len(results) < 2:
        raise ValueError(f"a race needs at least two entrants; got {list(results)}")
    missing = [name for name, row in results.items() if metric not in row]
    if missing:
        raise ValueError(f"{metric!r} is not scored for {missing}; scored: {sorted(next(iter(results.values())))}")
    ranked = sorted(results, key=lambda name: results[name][metric], reverse=True)
    first, second = ranked[0], ranked[1]
    a, b = results[first][metric], results[second][metric]
    if a == b:
        return f"{first} and {second} tie on {metric} at {a:.3f}: this run does not tell them apart."
    lead = f"{first} leads on {metric} with {a:.3f}, {a - b:.3f} ahead of {second} ({b:.3f})"
    ratio = _gap(results[first], results[second], metric, n)
    if ratio >= NOISE_FACTOR:
        return f"{lead}: {_times(ratio)} the standard error at {n} questions each, more than noise."
    return (f"{lead}: only {_times(ratio)} the standard error at {n} questions each, within the noise: "
            f"this run does not tell {first} and {second} apart.")


def change_verdict(before: float, after: float, n: int, higher_is_better: bool = True,
                   standard_errors: tuple[float, float] | None = None) -> str:
    """"gained", "lost" or "held" going from ``before`` to ``after`` (shares of ``n`` questions),
    with the change, judged against the noise of ``n`` questions, or of the scores' own
    ``standard_errors`` (before, after) where they are not shares."""
    change = after - before
    if standard_errors is None:
        ratio = gap_in_standard_errors(before, after, n)
    else:
        ratio = _gap_of_means(before, after, *standard_errors)
    if ratio < NOISE_FACTOR:
        return f"held ({change:+.3f}, within the noise of {n} questions)"
    better = change > 0 if higher_is_better else change < 0
    return f"{'gained' if better else 'lost'} {abs(change):.3f}"


def metric_change(before: Mapping[str, float], after: Mapping[str, float], metric: str) -> str:
    """:func:`change_verdict` of ``metric`` between two scorings of the same questions, each a
    metrics dict as the evaluators return it (with its ``n``; ``<metric>_se`` where the score
    is not a share); lower is better for the distances of :data:`LOWER_IS_BETTER`."""
    for name, scores in (("before", before), ("after", after)):
        missing = [key for key in (metric, "n") if key not in scores]
        if missing:
            raise ValueError(f"the {name} scores lack {missing}; they have {sorted(scores)}")
    if math.isnan(before[metric]) or math.isnan(after[metric]):
        return f"no verdict: {metric} is not a number {'before' if math.isnan(before[metric]) else 'after'}"
    key = f"{metric}_se"
    errors = (before[key], after[key]) if key in before and key in after else None
    if errors is None and before["n"] != after["n"]:
        raise ValueError(f"{metric}: the before and after scores count {before['n']} and {after['n']} questions; "
                         f"without standard errors a change is read between scorings of the same questions")
    return change_verdict(before[metric], after[metric], before["n"], metric not in LOWER_IS_BETTER, errors)


def history_lines(metric: str, stations: Mapping[str, Mapping[str, float] | None]) -> list[str]:
    """One line per station of a score's history (``{station: metrics dict, or None where it
    was not recorded}``), each with its change since the last recorded station
    (:func:`metric_change`), or why there is no verdict."""
    lines, previous = [], None
    for station, scores in stations.items():
        if scores is None:
            lines.append(f"{station}: not recorded")
            continue
        line = f"{station}: {metric} {scores[metric]:.3f} ({scores['n']} questions)"
        if previous is not None:
            try:
                line += f", {metric_change(previous, scores, metric)}"
            except ValueError as err:  # e.g. a score recorded without its standard error
                line += f", no verdict ({err})"
        lines.append(line)
        previous = scores
    return lines


def _gap(a: Mapping[str, float], b: Mapping[str, float], metric: str, n: int) -> float:
    """Standard errors between two entrants' ``metric``: their own ``<metric>_se`` where both
    have one, else those of two shares of ``n`` questions."""
    key = f"{metric}_se"
    if key not in a or key not in b:
        return gap_in_standard_errors(a[metric], b[metric], n)
    return _gap_of_means(a[metric], b[metric], a[key], b[key])


def _gap_of_means(a: float, b: float, se_a: float, se_b: float) -> float:
    """Standard errors between two means with standard errors ``se_a`` and ``se_b``."""
    se, gap = math.hypot(se_a, se_b), abs(a - b)
    return gap / se if se > 0 else math.inf if gap else 0.0


def _times(ratio: float) -> str:
    return "infinitely many times" if math.isinf(ratio) else f"{ratio:.1f} times"


def binding_verdict(hits: Mapping[int, Mapping[str, float]]) -> str:
    """Does a grounding model read *which* object a phrase names? Its share of questions answered
    on the named object against chance (a random pick among the objects it found), pooled over
    the object counts of ``hits`` (:func:`vlmkit.evaluation.evaluate.object_hits`)."""
    queries = sum(h["queries"] for h in hits.values())
    if queries < 1:
        raise ValueError("object_hits counted no queries")
    named, chance, found = (sum(h[k] * h["queries"] for h in hits.values()) / queries
                            for k in ("on_named", "chance", "on_some"))
    said = f"on the named object {named:.3f}, a random pick among the objects it found {chance:.3f}"
    if named <= chance or gap_in_standard_errors(named, chance, queries) < NOISE_FACTOR:
        return f"{said}: no better than the random pick, so it has not learned which object a phrase names."
    share = (named - chance) / (found - chance) if found > chance else 1.0
    reads = "it reads the phrase" if share >= 0.5 else "it barely reads the phrase"
    return (f"{said}: {reads}, picking the named one of the objects it found {share:.0%} of the way from "
            f"random (0%) to always (100%).")
