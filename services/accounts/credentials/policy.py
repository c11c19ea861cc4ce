"""Password rules: a minimum length and a strength estimate (zxcvbn), which refuses the
breached-style passwords attackers try first (common words, keyboard walks, dates, the user's
own name or email). The refusal says why, with zxcvbn's suggestions."""

from __future__ import annotations

from collections.abc import Sequence

from zxcvbn import zxcvbn

MAX_PASSWORD_LENGTH = 256
# zxcvbn's cost grows with the length; the rest of a long password adds little to the estimate.
_ESTIMATE_PREFIX = 100


class WeakPasswordError(ValueError):
    def __init__(self, reason: str, suggestions: Sequence[str] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.suggestions = list(suggestions)


def check_password(
    password: str, *, min_length: int, min_score: int, user_inputs: Sequence[str] = ()
) -> int:
    """The zxcvbn score (0-4) of an acceptable password; WeakPasswordError otherwise."""
    if len(password) < min_length:
        raise WeakPasswordError(f"a password needs at least {min_length} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPasswordError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    inputs = [item for value in user_inputs for item in _words(value)]
    result = zxcvbn(password[:_ESTIMATE_PREFIX], user_inputs=inputs)
    score = int(result["score"])
    if score < min_score:
        feedback = result.get("feedback") or {}
        warning = feedback.get("warning") or "this password is too easy to guess"
        raise WeakPasswordError(
            f"{warning.rstrip('.')} (strength {score}/4, {min_score} needed)",
            feedback.get("suggestions") or [],
        )
    return score


def _words(value: str) -> list[str]:
    cleaned = value.lower().replace("@", " ").replace(".", " ").replace("+", " ")
    return [value.lower(), *cleaned.split()]
