"""Sentences about a run's own numbers, computed from them, so that a notebook's verdict ("the
box head won this race") is printed by the run it describes and never contradicts it.

Whether a difference is more than noise is judged with the standard error of a difference of
two shares of ``n`` questions each, sqrt(p1(1-p1)/n + p2(1-p2)/n): exact for shares such as
Acc@0.5 or P@0.5, an upper bound for means of values in [0, 1] such as mean IoU. A gap of at
least two standard errors counts as a difference; less, as a draw.
"""

from __future__ import annotations

import math
from typing import Mapping

NOISE_FACTOR = 2.0  # gaps under this many standard errors are read as noise


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
    lead = f"{first} leads on {metric} with {a:.3f}, {a - b:.3f} ahead of {second} ({b:.3f})"
    ratio = gap_in_standard_errors(a, b, n)
    if ratio >= NOISE_FACTOR:
        return f"{lead}: {_times(ratio)} the standard error at {n} questions each, more than noise."
    return (f"{lead}: only {_times(ratio)} the standard error at {n} questions each, within the noise: "
            f"this run does not tell {first} and {second} apart.")


def change_verdict(before: float, after: float, n: int, higher_is_better: bool = True) -> str:
    """"gained", "lost" or "held" going from ``before`` to ``after`` (shares of ``n`` questions),
    with the change, judged against the noise of ``n`` questions."""
    change = after - before
    if gap_in_standard_errors(before, after, n) < NOISE_FACTOR:
        return f"held ({change:+.3f}, within the noise of {n} questions)"
    better = change > 0 if higher_is_better else change < 0
    return f"{'gained' if better else 'lost'} {abs(change):.3f}"


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
    return (f"{said}: it reads the phrase, and picks the named one of the objects it found "
            f"{share:.0%} of the way from random to always.")
