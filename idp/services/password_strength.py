"""안전도 (password strength): one small deterministic estimator, the same in the browser.

zxcvbn's idea in a form that ports line for line to static/password_strength.js (the browser
meter) and gives the same numbers there: the password is covered by the cheapest sequence of
*patterns*, each with a cost in tenths of a bit (integers only, so that Python and JavaScript
cannot round differently):

- brute force, per character: digit 33, ASCII letter 47, other ASCII 50, anything else 60;
- a dictionary word (4+ characters; the common-password list, `static/common_passwords.txt`,
  ranked most common first, and the member's own ID and name at rank 1): 10 x bit length of
  its rank, +10 when some letter is upper-case, +10 when it needs l33t (p@ssw0rd);
- a repeat (aaa, 3+ equal characters): the character's cost + 10 x bit length of the run;
- a sequence (abc, 4321: 3+ code points one apart, the same way): 40 + 10 x bit length;
- a keyboard run (qwer, asdf, 4+ neighbours on one row): 60 + 10 x bit length;
- a year 1900-2039: 70.

The cheapest cover (dynamic programming over the positions, at most the first 64 characters)
is the password's cost; the score 0-4 follows from it (`SCORE_LIMITS`). The meter shows
하 (score 0-1), 중 (2) or 상 (3-4); PasswordPolicy.check_password refuses scores below
`MIN_SCORE` and common passwords (`is_common`). Test vectors shared with the browser:
tests/unit/password_strength_vectors.json.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

COMMON_PASSWORDS_FILE = Path(__file__).resolve().parents[2] / "static" / "common_passwords.txt"
MAX_CHARS = 64
MIN_WORD = 4
# Cost limits (tenths of a bit) of scores 0, 1, 2, 3; above the last: 4.
SCORE_LIMITS = (200, 280, 360, 450)
MIN_SCORE = 2  # below: 하, refused
LEET = {"4": "a", "@": "a", "3": "e", "1": "i", "!": "i", "0": "o", "5": "s", "$": "s",
        "7": "t", "+": "t"}
KEYBOARD_ROWS = ("`1234567890-=", "~!@#$%^&*()_+", "qwertyuiop[]\\", "asdfghjkl;'",
                 "zxcvbnm,./")


@dataclass(frozen=True)
class Strength:
    cost: int  # tenths of a bit
    score: int  # 0..4

    @property
    def level(self) -> int:
        """The meter's 3 steps: 0 하, 1 중, 2 상."""
        return 0 if self.score < MIN_SCORE else (1 if self.score == MIN_SCORE else 2)


@lru_cache(maxsize=1)
def common_ranks() -> dict[str, int]:
    """Word -> rank (1 = most common) of the shipped common-password list."""
    ranks: dict[str, int] = {}
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    for line in lines:
        word = line.strip()
        if word and not word.startswith("#") and word not in ranks:
            ranks[word] = len(ranks) + 1
    return ranks


def _lower(c: str) -> str:
    return chr(ord(c) + 32) if "A" <= c <= "Z" else c


def _bit_length(n: int) -> int:
    return n.bit_length()


def char_cost(c: str) -> int:
    if "0" <= c <= "9":
        return 33
    if "a" <= c <= "z" or "A" <= c <= "Z":
        return 47
    if " " <= c <= "~":
        return 50
    return 60


def _user_words(user_inputs: Iterable[str | None]) -> set[str]:
    words: set[str] = set()
    for value in user_inputs:
        word = "".join(_lower(c) for c in (value or "").strip())
        if len(word) >= 2:
            words.add(word)
    return words


def estimate(password: str, user_inputs: Iterable[str | None] = ()) -> Strength:
    """The password's cost and score (see the module docstring)."""
    chars = list(password)[:MAX_CHARS]
    n = len(chars)
    lower = [_lower(c) for c in chars]
    unleet = [LEET.get(c, c) for c in lower]
    ranks = common_ranks()
    users = _user_words(user_inputs)
    matches: list[tuple[int, int, int]] = []

    def rank_of(word: str) -> int:
        return 1 if word in users else ranks.get(word, 0)

    # Dictionary words, plain or l33t.
    for i in range(n):
        for j in range(i + 2, n + 1):
            word = "".join(lower[i:j])
            if j - i < MIN_WORD and word not in users:
                continue
            upper = 10 if any("A" <= c <= "Z" for c in chars[i:j]) else 0
            rank = rank_of(word)
            if rank:
                matches.append((i, j, 10 * _bit_length(rank) + upper))
                continue
            plain = "".join(unleet[i:j])
            rank = rank_of(plain) if plain != word else 0
            if rank:
                matches.append((i, j, 10 * _bit_length(rank) + upper + 10))
    # Repeats: aaa.
    i = 0
    while i < n:
        j = i + 1
        while j < n and chars[j] == chars[i]:
            j += 1
        if j - i >= 3:
            matches.append((i, j, char_cost(chars[i]) + 10 * _bit_length(j - i)))
        i = j
    # Sequences: abc, 321.
    i = 0
    while i < n - 2:
        d = ord(chars[i + 1]) - ord(chars[i])
        if d in (1, -1):
            j = i + 1
            while j + 1 < n and ord(chars[j + 1]) - ord(chars[j]) == d:
                j += 1
            if j - i + 1 >= 3:
                matches.append((i, j + 1, 40 + 10 * _bit_length(j - i + 1)))
            i = j
        else:
            i += 1
    # Keyboard runs on one row: qwer, asdf, 7890.
    for row in KEYBOARD_ROWS:
        i = 0
        while i < n - 1:
            a, b = row.find(lower[i]), row.find(lower[i + 1])
            d = b - a
            if a >= 0 and b >= 0 and d in (1, -1):
                j = i + 1
                while j + 1 < n and row.find(lower[j + 1]) >= 0 and (
                        row.find(lower[j + 1]) - row.find(lower[j]) == d):
                    j += 1
                if j - i + 1 >= 4:
                    matches.append((i, j + 1, 60 + 10 * _bit_length(j - i + 1)))
                i = j
            else:
                i += 1
    # Years 1900-2039.
    for i in range(n - 3):
        digits = "".join(chars[i:i + 4])
        if digits.isascii() and digits.isdigit() and 1900 <= int(digits) <= 2039:
            matches.append((i, i + 4, 70))
    # The cheapest cover.
    best = [0] * (n + 1)
    for k in range(1, n + 1):
        best[k] = best[k - 1] + char_cost(chars[k - 1])
        for i, j, cost in matches:
            if j == k and best[i] + cost < best[k]:
                best[k] = best[i] + cost
    total = best[n]
    score = 0
    while score < len(SCORE_LIMITS) and total >= SCORE_LIMITS[score]:
        score += 1
    return Strength(cost=total, score=score)


def is_common(password: str) -> bool:
    """The password, or it with l33t undone, or its letters core (digits and symbols around
    it dropped: Password123! -> password), is on the common-password list."""
    lower = "".join(_lower(c) for c in password)
    ranks = common_ranks()
    unleet = "".join(LEET.get(c, c) for c in lower)
    core = lower.strip("0123456789" + "".join(c for c in map(chr, range(32, 127))
                                              if not c.isalnum()))
    core_unleet = "".join(LEET.get(c, c) for c in core)
    return any(w in ranks for w in (lower, unleet)) or (
        len(core) >= MIN_WORD and (core in ranks or core_unleet in ranks))
