"""How many consumers and partitions a grid needs, from a *measured* per-consumer throughput."""

from __future__ import annotations

import math

import pandas as pd


def capacity_plan(
    per_consumer_msgs_s: float, feeds: dict[str, float], *, cars: int = 20, utilisation: float = 0.5
) -> pd.DataFrame:
    """Consumers and partitions a grid of ``cars`` needs, from a *measured* per-consumer throughput.

    ``feeds`` maps a feed name to its per-car message rate (Hz). A consumer is planned at
    ``utilisation`` of its measured capacity (headroom for bursts, GC, rebalances).
    Messages are keyed by driver, so one driver's messages go to one partition and one
    consumer (per-driver features need them in order): at most ``cars`` partitions are
    useful, and a single car's rate must fit into one consumer (``per_car_fits``).

    >>> plan = capacity_plan(1500.0, {"car data": 3.7, "50 Hz": 50.0, "1 kHz": 1000.0})
    >>> plan[["feed", "grid_msgs_s", "consumers", "partitions", "per_car_fits"]].values.tolist()
    [['car data', 74.0, 1, 2, True], ['50 Hz', 1000.0, 2, 4, True], ['1 kHz', 20000.0, 27, 27, False]]
    """
    if not per_consumer_msgs_s > 0:
        raise ValueError(f"per_consumer_msgs_s {per_consumer_msgs_s!r}: expected a measured rate > 0")
    budget = per_consumer_msgs_s * utilisation
    out = []
    for name, hz in feeds.items():
        rate = cars * hz
        need = max(1, math.ceil(rate / budget))
        fits = hz <= budget
        out.append(
            {
                "feed": name,
                "hz_per_car": hz,
                "cars": cars,
                "grid_msgs_s": round(rate, 1),
                "consumer_capacity_msgs_s": round(per_consumer_msgs_s, 1),
                "utilisation": utilisation,
                # room to add consumers later without repartitioning (keys move when
                # partitions change), but more partitions than driver keys stay empty
                "consumers": need,
                "partitions": need if need > cars else min(cars, max(2, 2 * need)),
                "per_car_fits": bool(fits),
                "note": "ok"
                if fits and need <= cars
                else "more consumers than driver keys / one car exceeds one consumer: key below driver "
                "level (e.g. driver+channel) or make the per-message analysis cheaper",
            }
        )
    return pd.DataFrame(out)
