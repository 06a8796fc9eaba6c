"""A slow, obviously-correct pure-Python reference for profiles as of D, computed from raw events."""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict


def in_window(event, as_of, days):
    return as_of - dt.timedelta(days=days) <= event["dt"] <= as_of - dt.timedelta(days=1)


def rate_parts(events, spec):
    def total(column):
        if column == "value_sum":
            return sum(e["value"] for e in events if e["value"] is not None)
        if column == "value_count":
            return sum(1 for e in events if e["value"] is not None)
        return sum(1 for e in events if e["event_type"] == column[len("n_"):])
    return total(spec.numerator), total(spec.denominator)


def reference_profiles(events, as_of, profiles, event_types, item_categories, key):
    """Profiles of every user (key='user_id') or item (key='item_id') with events in the longest window."""
    longest = max(profiles.windows)
    history = [e for e in events if in_window(e, as_of, longest)]
    by_key = defaultdict(list)
    for event in history:
        by_key[event[key]].append(event)
    priors = {}
    for spec in profiles.rates:
        for days in profiles.windows:
            num, den = rate_parts([e for e in history if in_window(e, as_of, days)], spec)
            priors[spec.name, days] = num / den if den else None
    result = {}
    for entity, own in by_key.items():
        row = {}
        for days in profiles.windows:
            window = [e for e in own if in_window(e, as_of, days)]
            for kind in event_types:
                row[f"n_{kind}_{days}d"] = sum(1 for e in window if e["event_type"] == kind)
            row[f"active_days_{days}d"] = len({e["dt"] for e in window})
            for spec in profiles.rates:
                num, den = rate_parts(window, spec)
                prior = priors[spec.name, days]
                row[f"{spec.name}_{days}d"] = (
                    None if prior is None else (num + spec.prior_weight * prior) / (den + spec.prior_weight))
        row["days_since_last_event"] = (as_of - max(e["dt"] for e in own)).days
        if key == "user_id":
            categories = Counter(c for e in own for c in item_categories.get(e["item_id"], []))
            ranked = sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))
            row["top_categories"] = [c for c, _ in ranked][:profiles.top_categories] or None
            last_time = {}
            for e in own:
                last_time[e["item_id"]] = max(last_time.get(e["item_id"], e["event_time"]), e["event_time"])
            by_recency = sorted(last_time.items(), key=lambda kv: (-kv[1].timestamp(), kv[0]))
            row["recent_items"] = [i for i, _ in by_recency][:profiles.recent_items]
        result[entity] = row
    if key == "item_id":
        for days in profiles.windows:
            totals = {item: sum(1 for e in own if in_window(e, as_of, days)) for item, own in by_key.items()}
            ranked = sorted((item for item, n in totals.items() if n > 0), key=lambda item: (-totals[item], item))
            for item in result:
                result[item][f"popularity_rank_{days}d"] = ranked.index(item) + 1 if item in ranked else None
    return result
