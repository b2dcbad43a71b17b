"""Query-parameter parsing: one place decides what a valid value is and what the error says."""

from django.core.exceptions import BadRequest


def bounded_int(request, name: str, default: int, low: int, high: int) -> int:
    """An integer parameter in [low, high]; anything else is the client's error (400)."""
    raw = request.GET.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer between {low} and {high}, got {raw[:40]!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, got {value}")
    return value


def techempower_queries(request) -> int:
    """TechEmpower's rule: missing or not a number means 1; otherwise clamped to 1..500."""
    try:
        value = int(request.GET.get("queries", "1"))
    except ValueError:
        return 1
    return min(max(value, 1), 500)
