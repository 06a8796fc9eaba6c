import datetime as dt
import random

import pytest

from core.config_schema import ProfileConfig, RateSpec
from features.schema import EVENTS
from jobs.build_daily_rollups import rollup, with_item_category
from jobs.build_profiles import item_profile, user_profile
from tests.jobs.profile_reference import reference_profiles

EVENT_TYPES = ("pv", "cart", "fav", "buy")
START = dt.date(2017, 11, 20)
PROFILES = ProfileConfig(windows=[1, 3, 7], top_categories=2, recent_items=3, rates=[
    RateSpec(name="buy_rate", numerator="n_buy", denominator="n_pv", prior_weight=4.0),
    RateSpec(name="cart_rate", numerator="n_cart", denominator="n_pv", prior_weight=2.0),
])
CATEGORIES = {"i1": ["c1"], "i2": ["c1", "c2"], "i3": ["c2"], "i4": ["c3"], "i5": []}


def random_log(seed, days=10, events=120):
    rng = random.Random(seed)
    log = []
    for index in range(events):
        day = START + dt.timedelta(days=rng.randrange(days))
        # Whole seconds in a small range, so equal event times (ties) really occur.
        moment = dt.datetime(day.year, day.month, day.day, rng.randrange(3), 0, rng.randrange(3))
        log.append({"event_id": f"e{seed}-{index}", "user_id": f"u{rng.randrange(5)}",
                    "item_id": f"i{rng.randrange(1, 6)}", "event_type": rng.choice(EVENT_TYPES),
                    "event_time": moment, "value": None, "dt": day})
    return log


def spark_profiles(spark, log, as_of, profiles=PROFILES):
    """{key column: {entity: profile row}} as of one day; with a list of days, {(day, entity): row}, all in one
    pass."""
    days = as_of if isinstance(as_of, list) else [as_of]
    events = spark.createDataFrame([tuple(e[f] for f in EVENTS.fieldNames()) for e in log], EVENTS)
    # Every day of the log, D and later included: the transforms themselves must look only before D.
    items = spark.createDataFrame(list(CATEGORIES.items()), "item_id string, genres array<string>")
    users = user_profile(
        rollup(events, ["user_id"], EVENT_TYPES),
        rollup(with_item_category(events, items, "genres"), ["user_id", "category"], EVENT_TYPES),
        rollup(events, ["user_id", "item_id"], EVENT_TYPES),
        days, profiles, EVENT_TYPES)
    item_rows = item_profile(rollup(events, ["item_id"], EVENT_TYPES), days, profiles, EVENT_TYPES)
    as_dicts = {}
    for key, frame in (("user_id", users), ("item_id", item_rows)):
        as_dicts[key] = {(row["as_of"], row[key]) if days is as_of else row[key]:
                         {c: row[c] for c in frame.columns if c not in (key, "as_of")} for row in frame.collect()}
    return as_dicts


def assert_same(got, expected):
    assert set(got) == set(expected)
    for entity, row in expected.items():
        assert set(got[entity]) == set(row), entity
        for column, value in row.items():
            if isinstance(value, float):
                assert got[entity][column] == pytest.approx(value, rel=1e-12), (entity, column)
            else:
                assert got[entity][column] == value, (entity, column)


@pytest.mark.parametrize("as_of", [START, START + dt.timedelta(days=1), START + dt.timedelta(days=4),
                                   START + dt.timedelta(days=9), START + dt.timedelta(days=12)])
@pytest.mark.slow
def test_spark_profiles_equal_the_pure_python_reference(spark, as_of):
    log = random_log(seed=1)
    got = spark_profiles(spark, log, as_of)
    for key in ("user_id", "item_id"):
        assert_same(got[key], reference_profiles(log, as_of, PROFILES, EVENT_TYPES, CATEGORIES, key))


@pytest.mark.slow
def test_many_days_in_one_pass_equal_the_reference_of_each_day(spark):
    log = random_log(seed=3)
    days = [START + dt.timedelta(days=n) for n in (0, 1, 2, 5, 9, 10, 12)]  # a gap, the log's first and after its end
    together = spark_profiles(spark, log, days)
    for key in ("user_id", "item_id"):
        assert {day for day, _ in together[key]} == set(days) - {START}  # nothing before the first day
        for day in days:
            assert_same({entity: row for (as_of, entity), row in together[key].items() if as_of == day},
                        reference_profiles(log, day, PROFILES, EVENT_TYPES, CATEGORIES, key))


@pytest.mark.slow
def test_profiles_of_a_day_ignore_every_change_on_that_day_or_later(spark):
    log = random_log(seed=2)
    for as_of in (START + dt.timedelta(days=3), START + dt.timedelta(days=7)):
        future = lambda e: e["dt"] >= as_of  # noqa: E731
        changed = [dict(e, event_type="buy") if future(e) else e
                   for e in log if not (future(e) and e["user_id"] == "u1")]
        changed += [dict(e, event_id=f"new-{i}", user_id="u9", dt=as_of) for i, e in enumerate(log[:10])]
        assert spark_profiles(spark, changed, as_of) == spark_profiles(spark, log, as_of)
        assert spark_profiles(spark, changed, as_of + dt.timedelta(days=1)) != \
            spark_profiles(spark, log, as_of + dt.timedelta(days=1))  # the change is visible the day after


def test_literal_rows_give_hand_computed_profiles(spark):
    def event(user, item, kind, day, hour):
        return {"event_id": f"{user}{item}{kind}{day}", "user_id": user, "item_id": item, "event_type": kind,
                "event_time": dt.datetime(2017, 11, day, hour), "value": None, "dt": dt.date(2017, 11, day)}
    log = [event("u1", "i1", "pv", 24, 10), event("u1", "i1", "buy", 24, 11), event("u1", "i2", "pv", 22, 9),
           event("u2", "i2", "pv", 24, 8), event("u1", "i3", "pv", 25, 1)]  # the last is on D: unseen
    profiles = ProfileConfig(windows=[1, 3], top_categories=3, recent_items=3, rates=[
        RateSpec(name="buy_rate", numerator="n_buy", denominator="n_pv", prior_weight=4.0)])
    got = spark_profiles(spark, log, dt.date(2017, 11, 25), profiles)
    u1, u2 = got["user_id"]["u1"], got["user_id"]["u2"]
    # 1 day (11-24): global buys/pvs = 1/2; u1 = (1 + 4 * 1/2) / (1 + 4), u2 = (0 + 2) / (1 + 4).
    assert (u1["buy_rate_1d"], u2["buy_rate_1d"]) == (pytest.approx(0.6), pytest.approx(0.4))
    # 3 days (11-22..24): global 1/3; u1 = (1 + 4/3) / (2 + 4) = 7/18, u2 = (4/3) / 5 = 4/15.
    assert (u1["buy_rate_3d"], u2["buy_rate_3d"]) == (pytest.approx(7 / 18), pytest.approx(4 / 15))
    assert (u1["n_pv_3d"], u1["n_buy_3d"], u1["active_days_3d"], u1["active_days_1d"]) == (2, 1, 2, 1)
    assert (u1["days_since_last_event"], u1["recent_items"], u1["top_categories"]) == (1, ["i1", "i2"], ["c1", "c2"])
    assert (u2["recent_items"], u2["top_categories"]) == (["i2"], ["c1", "c2"])  # a c1/c2 tie: by name
    i1, i2 = got["item_id"]["i1"], got["item_id"]["i2"]
    assert (i1["popularity_rank_1d"], i2["popularity_rank_1d"]) == (1, 2)
    assert (i1["popularity_rank_3d"], i2["popularity_rank_3d"]) == (1, 2)  # 2 events each: by id
    assert "i3" not in got["item_id"]
