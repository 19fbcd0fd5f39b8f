"""Which waiting sector goes to which unit, and why: the dispatch policies.

offers.offers_make gathers the candidate pairs (the nearest eligible units of each waiting
sector, one SQL statement) and hands them here; a policy picks at most one unit per sector,
keeping every unit under its cap of open tasks, and says for each pick why it was made (the
task's `basis`, shown to the coordinator).

- "ring" (Beacon's first policy): the highest ring weight first, each to its nearest home unit.
- "pos_rate": expected probability of success per minute. A sector's probability is its prior
  (the ring's share spread over its cells) lowered by Bayes after each unsuccessful search; a
  unit would add POD = 1 - e^-coverage of it, after travelling to it and searching it (its
  kind's speed and sweep rate, DISPATCH["UNIT_EFFORT"]), behind whatever it holds already.
  Searched sectors may be searched again, and a high-probability sector whose home units are all
  busy may go to a unit from next door.
- "nearest" and "random": the simulator's baselines (bench/simulate.py), which ignore the
  probability: the nearest pair first, or the sectors in a random order.
"""

import heapq
import math
import random
from dataclasses import dataclass, field
from typing import Any

import h3
from django.conf import settings
from django.utils.translation import gettext

RING = "ring"
POS_RATE = "pos_rate"
NEAREST = "nearest"
RANDOM = "random"


def conf(name: str) -> Any:
    return settings.DISPATCH[name]


def pod(coverage: float) -> float:
    """Koopman's random-search law: the probability of detection that a coverage gives."""
    return 1.0 - math.exp(-max(coverage, 0.0))


def pod_combined(previous: float, this: float) -> float:
    """Two independent searches of the same ground: the chances of missing multiply (and so
    the coverages add: 1 - e^-(c1 + c2))."""
    return 1.0 - (1.0 - previous) * (1.0 - this)


def posterior(priors: list[float], pods: list[float]) -> list[float]:
    """Bayes after an unsuccessful search of every sector i with pods[i] (0 for unsearched):
    P(i | not found) = p_i (1 - POD_i) / sum_j p_j (1 - POD_j), over the sectors given."""
    kept = [p * (1.0 - d) for p, d in zip(priors, pods, strict=True)]
    total = sum(kept)
    if total <= 0:
        return [0.0 for _ in kept]
    return [k / total for k in kept]


@dataclass(frozen=True)
class Effort:
    speed_kmh: float
    sweep_km2_h: float
    coverage: float

    @property
    def pod(self) -> float:
        return pod(self.coverage)

    def travel_min(self, distance_m: float | None) -> float:
        if distance_m is None:
            return float(conf("UNKNOWN_POSITION_TRAVEL_MIN"))
        return distance_m / 1000 / self.speed_kmh * 60

    def search_min(self, area_km2: float) -> float:
        """Minutes to search this much ground to the coverage one pass aims at."""
        return self.coverage * area_km2 / self.sweep_km2_h * 60


def effort(kind: str) -> Effort:
    table = conf("UNIT_EFFORT")
    return Effort(**(table.get(kind) or table["patrol"]))


@dataclass
class Pair:
    """One candidate: this unit could take this sector."""

    sector: int
    unit: int
    distance: float | None
    home: bool  # the unit's home area holds the sector
    weight: float  # the sector's prior
    coverage: float  # the sector's combined POD so far
    ring: int
    h3_index: str
    kind: str  # the unit's kind
    fresh: bool = True  # waiting in the queue (not a searched sector that may be searched again)
    total: float = 0.0  # the sum of the case's sectors' weight x (1 - coverage)


@dataclass
class Pick:
    unit: int
    distance: float | None
    basis: dict[str, Any] = field(default_factory=dict)


def sector_area_km2(h3_index: str) -> float:
    return h3.cell_area(h3_index, "km^2")


def choose(
    *,
    policy: str,
    pairs: list[Pair],
    load: dict[int, int],
    cap: int,
    total_probability: float,
    seed: str = "",
) -> dict[int, Pick]:
    """Return sector -> pick. `load` (open tasks per unit) is updated with the picks."""
    if policy == POS_RATE:
        return _pos_rate(pairs, load, cap, total_probability)
    home = [p for p in pairs if p.home]
    if policy == NEAREST:
        order = sorted(
            home, key=lambda p: (p.distance is None, p.distance or 0.0, p.sector, p.unit)
        )
    elif policy == RANDOM:
        sectors = sorted({p.sector for p in home})
        # Seeded by the case and the time, so that a simulation is repeatable.
        random.Random(seed).shuffle(sectors)  # noqa: S311 - a baseline, not a secret
        rank = {s: i for i, s in enumerate(sectors)}
        order = sorted(
            home,
            key=lambda p: (rank[p.sector], p.distance is None, p.distance or 0.0, p.unit),
        )
    else:  # RING: the candidates come ordered by weight, sector, then distance
        order = home
    picks: dict[int, Pick] = {}
    for p in order:
        if p.sector in picks or load.get(p.unit, 0) >= cap:
            continue
        picks[p.sector] = Pick(p.unit, p.distance, _basis(policy, p, total_probability))
        load[p.unit] = load.get(p.unit, 0) + 1
    return picks


def _probability(p: Pair, total: float) -> float:
    """The sector's current probability: its prior lowered by Bayes, normalised."""
    return p.weight * (1 - p.coverage) / total if total > 0 else 0.0


def _basis(policy: str, p: Pair, total: float, **extra: Any) -> dict[str, Any]:
    probability = _probability(p, total)
    basis = {
        "policy": policy,
        "ring": p.ring,
        "probability": round(probability, 5),
        "distance_m": None if p.distance is None else round(p.distance),
        "home": p.home,
    }
    basis.update(extra)
    return basis


def _pos_rate(pairs: list[Pair], load: dict[int, int], cap: int, total: float) -> dict[int, Pick]:
    """Greedy on expected probability of success per minute, re-scored lazily.

    A unit that takes a sector reaches its next one later, so its other pairs score lower; a
    heap of scores computed against the unit's queue at the time, re-scored when popped with a
    stale queue, picks the best pair that still stands (scores only fall as queues grow).
    Home pairs first; then the high-probability sectors left over may go to a neighbour's units.
    """
    kinds = {p.unit: p.kind for p in pairs}
    area = sector_area_km2(pairs[0].h3_index) if pairs else 0.1
    # What a unit holds already: its open tasks' search time, as if of this case's size.
    queue_min = {
        unit: n * effort(kinds.get(unit, "patrol")).search_min(area)
        for unit, n in load.items()
        if n
    }
    picks: dict[int, Pick] = {}
    home = [p for p in pairs if p.home]
    _greedy(home, load, cap, total, queue_min, picks)
    max_ring = conf("OUTSIDE_HOME_MAX_RING")
    outside = [p for p in pairs if not p.home and p.sector not in picks and p.ring <= max_ring]
    _greedy(outside, load, cap, total, queue_min, picks)
    return picks


def _score(p: Pair, queue: float, total: float) -> tuple[float, dict[str, Any]]:
    e = effort(p.kind)
    travel = e.travel_min(p.distance)
    search = e.search_min(sector_area_km2(p.h3_index))
    probability = _probability(p, total)
    minutes = queue + travel + search
    rate = probability * e.pod / minutes if minutes > 0 else 0.0
    return rate, {
        "pod": round(e.pod, 3),
        "wait_min": round(queue, 1),
        "travel_min": round(travel, 1),
        "search_min": round(search, 1),
        "rate_per_hour": round(rate * 60, 5),
    }


def _greedy(
    pairs: list[Pair],
    load: dict[int, int],
    cap: int,
    total: float,
    queue_min: dict[int, float],
    picks: dict[int, Pick],
) -> None:
    heap = []
    for i, p in enumerate(pairs):
        if p.sector in picks:
            continue
        queue = queue_min.get(p.unit, 0.0)
        rate, _ = _score(p, queue, total)
        heap.append((-rate, p.sector, p.unit, i, queue))
    heapq.heapify(heap)
    while heap:
        _, sector, unit, i, queue = heapq.heappop(heap)
        if sector in picks or load.get(unit, 0) >= cap:
            continue
        p = pairs[i]
        current = queue_min.get(unit, 0.0)
        if current != queue:  # the unit took something since: score it again
            rate, _ = _score(p, current, total)
            heapq.heappush(heap, (-rate, sector, unit, i, current))
            continue
        rate, detail = _score(p, current, total)
        picks[sector] = Pick(unit, p.distance, _basis(POS_RATE, p, total, **detail))
        load[unit] = load.get(unit, 0) + 1
        queue_min[unit] = current + detail["travel_min"] + detail["search_min"]


def basis_text(basis: dict[str, Any] | None) -> str:
    """Say to the coordinator why this unit got this sector."""
    if not basis:
        return ""
    parts = [
        gettext("ring %(ring)s, probability %(p).1f%%")
        % {"ring": basis.get("ring", "?"), "p": 100 * float(basis.get("probability") or 0)}
    ]
    if basis.get("policy") == POS_RATE:
        parts.append(
            gettext("detection %(pod).0f%%, %(wait).0f + %(travel).0f + %(search).0f min")
            % {
                "pod": 100 * float(basis.get("pod") or 0),
                "wait": basis.get("wait_min") or 0,
                "travel": basis.get("travel_min") or 0,
                "search": basis.get("search_min") or 0,
            }
        )
    elif basis.get("distance_m") is not None:
        parts.append(gettext("nearest available, %(km).1f km") % {"km": basis["distance_m"] / 1000})
    if not basis.get("home", True):
        parts.append(gettext("from outside its home area (its own units were busy)"))
    return "; ".join(parts)
