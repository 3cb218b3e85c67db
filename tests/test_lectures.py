"""The lecture lines (tests/lecture_lines.py) run literally with `import gradkit as torch`.

Each line's result is compared with the value real PyTorch gives, stored in
lecture_expected.json (regenerate: `python tests/lecture_lines.py --regenerate`), so the
gradkit side runs without torch; a second test re-runs the lines with torch, where it is
installed, to keep the stored values honest.

KNOWN_GAPS holds the lines that do not give torch's value with gradkit today, grouped by
what is missing. They are strict xfails: a gap that gets fixed turns its test red until its
id is removed here. The list only shrinks.

A summary of where gradkit stands (same value, raised, different value, by lecture and by
line) prints with `python -m tests.test_lectures` from the repository root.
"""

from __future__ import annotations

import pytest

import gradkit

try:
    from lecture_lines import CODE, LECTURES, LINES, compare, encode, lecture_of, load_expected, run
except ImportError:  # python -m tests.test_lectures
    from tests.lecture_lines import (
        CODE,
        LECTURES,
        LINES,
        compare,
        encode,
        lecture_of,
        load_expected,
        run,
    )

# What each failing line lacks today: the first thing it trips on, so fixing one feature may
# reveal the next (a line also using var/std may then give a different value, gradkit's
# default being correction=0). Groups starting "(different)" run but give another value.
# Remove an id when its line gives torch's value: its xfail is strict.
GAPS: dict[str, set[str]] = {}  # every lecture line gives torch's value today

KNOWN_GAPS: frozenset[str] = frozenset().union(*GAPS.values())
_GAP_OF = {line_id: feature for feature, ids in GAPS.items() for line_id in ids}

EXPECTED = load_expected()["lines"]
IDS = [line_id for line_id, _ in LINES]


def outcome(line_id: str) -> tuple[str, str]:
    """('same' | 'raised' | 'different', detail) of one line run with gradkit."""
    gradkit.manual_seed(0)
    try:
        out = run(line_id, gradkit)
    except Exception as e:  # the probe reports whatever a line trips on
        return "raised", f"{type(e).__name__}: {e}"
    try:
        got = encode(out)
    except Exception as e:
        return "different", f"the result cannot be read back: {type(e).__name__}: {e}"
    diff = compare(got, EXPECTED[line_id])
    return ("different", diff) if diff else ("same", "")


def _params():
    for line_id in IDS:
        marks = ()
        if line_id in KNOWN_GAPS:
            marks = pytest.mark.xfail(strict=True, reason=f"known gap: {_GAP_OF[line_id]}")
        yield pytest.param(line_id, id=line_id, marks=marks)


@pytest.mark.parametrize("line_id", _params())
def test_gradkit_gives_torchs_value(line_id):
    status, detail = outcome(line_id)
    assert status == "same", f"{line_id} {status}: {detail}\n--- the line:\n{CODE[line_id]}"


@pytest.mark.parametrize("line_id", IDS)
def test_stored_value_is_torchs(line_id):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    diff = compare(encode(run(line_id, torch)), EXPECTED[line_id])
    assert diff is None, f"{line_id}: stored value is stale ({diff}); run " \
                         f"`python tests/lecture_lines.py --regenerate`"


def test_expected_values_cover_every_line():
    assert list(EXPECTED) == IDS, "run `python tests/lecture_lines.py --regenerate`"


def test_known_gaps_name_lines_once():
    assert KNOWN_GAPS <= set(IDS), sorted(KNOWN_GAPS - set(IDS))
    assert sum(len(ids) for ids in GAPS.values()) == len(KNOWN_GAPS), "an id in two groups"


def test_every_lecture_is_probed():
    assert {lecture_of(i) for i in IDS} == set(LECTURES)


# ---- the summary --------------------------------------------------------------------


def tally() -> dict[str, tuple[str, str]]:
    """line id -> (status, detail), for every line."""
    return {line_id: outcome(line_id) for line_id in IDS}


def summary(results: dict[str, tuple[str, str]] | None = None) -> str:
    results = tally() if results is None else results
    count = {s: sum(1 for st, _ in results.values() if st == s)
             for s in ("same", "raised", "different")}
    lines = [f"lecture lines: {len(results)}; with gradkit: {count['same']} give torch's value, "
             f"{count['raised']} raise, {count['different']} give a different value", ""]
    lines.append(f"{'lecture':<8} {'lines':>5} {'same':>5} {'raised':>6} {'diff':>5}")
    for lecture, title in LECTURES.items():
        mine = [st for i, (st, _) in results.items() if lecture_of(i) == lecture]
        lines.append(f"{lecture:<8} {len(mine):>5} {mine.count('same'):>5} "
                     f"{mine.count('raised'):>6} {mine.count('different'):>5}  {title}")
    for status in ("raised", "different"):
        lines += ["", f"-- {status}:"]
        lines += [f"  {i}: {detail[:160]}" for i, (st, detail) in results.items() if st == status]
    lines += ["", "-- known gaps by what is missing (the first thing each line trips on):"]
    for feature, ids in GAPS.items():
        lines.append(f"  {feature} [{len(ids)}]: {', '.join(sorted(ids))}")
    fixed = sorted(i for i in KNOWN_GAPS if results[i][0] == "same")
    new = sorted(i for i, (st, _) in results.items() if st != "same" and i not in KNOWN_GAPS)
    if fixed:
        lines += ["", f"-- fixed, remove from KNOWN_GAPS: {', '.join(fixed)}"]
    if new:
        lines += ["", f"-- failing and not in KNOWN_GAPS: {', '.join(new)}"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary())
