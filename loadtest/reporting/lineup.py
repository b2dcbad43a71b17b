"""Who was in a run, as the report shows them: grouped by protocol (and Django's stock ASGI path
where the run has it), each group in its own colour family, and the baselines ratios are taken to.

Everything comes from the run's meta (written from servers.toml by the bench), never from names.
"""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib import colormaps
from matplotlib.colors import to_hex

# Group order on every chart and table: the WSGI baseline family first, then ASGI.
GROUPS = ("wsgi", "asgi", "asgi-stock")
GROUP_TITLES = {"wsgi": "WSGI", "asgi": "ASGI", "asgi-stock": "ASGI, stock Django"}
GROUP_COLOURS = {"wsgi": "Blues", "asgi": "Oranges", "asgi-stock": "Purples"}


@dataclass(frozen=True)
class Contender:
    name: str
    label: str
    protocol: str
    stock: bool  # Django's default ASGI plumbing, kept beside the tuned path to show the difference

    @property
    def group(self) -> str:
        return f"{self.protocol}-stock" if self.stock else self.protocol


@dataclass(frozen=True)
class Lineup:
    contenders: tuple[Contender, ...]  # in group order, the run's order within a group
    http_baseline: str | None  # ratios for HTTP scenarios are to this server's
    websocket_baseline: str | None  # and for WebSocket ones (WSGI servers cannot serve them)

    def __getitem__(self, name: str) -> Contender:
        return next(c for c in self.contenders if c.name == name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.contenders]

    @property
    def has_stock(self) -> bool:
        return any(c.stock for c in self.contenders)

    def group_title(self, group: str) -> str:
        # "ASGI" alone when no stock contender ran: there is nothing to tell the tuned path from.
        return GROUP_TITLES[group] + (", tuned Django" if group == "asgi" and self.has_stock else "")

    def baseline_for(self, websocket: bool) -> str | None:
        return self.websocket_baseline if websocket else self.http_baseline

    def colours(self) -> dict[str, str]:
        """One colour per server, a shade of its group's colour family."""
        found = {}
        for group in GROUPS:
            members = [c.name for c in self.contenders if c.group == group]
            cmap = colormaps[GROUP_COLOURS[group]]
            for i, name in enumerate(members):
                # Dark enough to read as text on white, apart enough to tell servers apart.
                shade = 0.95 - 0.4 * i / (len(members) - 1) if len(members) > 1 else 0.8
                found[name] = to_hex(cmap(shade))
        return found

    def group_colour(self, group: str) -> str:
        return to_hex(colormaps[GROUP_COLOURS[group]](0.8))


def _first(contenders: list[Contender], protocol: str) -> str | None:
    return next((c.name for c in contenders if c.protocol == protocol and not c.stock), None)


def from_meta(meta: dict) -> Lineup:
    """The lineup of a run. Baselines: the production routing's servers from servers.toml (recorded
    in meta by the bench), or, for a run without them, its first WSGI and first ASGI server."""
    contenders = [
        Contender(s["name"], s.get("label", s["name"]), s.get("protocol", "wsgi"), s.get("django") == "stock")
        for s in meta["servers"]
    ]
    ordered = tuple(sorted(contenders, key=lambda c: GROUPS.index(c.group)))
    names = {c.name for c in contenders}
    wanted = meta.get("baselines", {})
    http = wanted.get("http") if wanted.get("http") in names else _first(contenders, "wsgi")
    websocket = wanted.get("websocket") if wanted.get("websocket") in names else _first(contenders, "asgi")
    return Lineup(ordered, http or (ordered[0].name if ordered else None), websocket)
