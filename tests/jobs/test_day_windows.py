import datetime as dt

from jobs.day_windows import history, window_sums


def day(n):
    return dt.date(2017, 11, n)


def as_dicts(frame, key):
    return {(row[key], row["as_of"].day): {c: row[c] for c in frame.columns if c not in (key, "as_of")}
            for row in frame.collect()}


def test_window_sums_of_literal_rows_by_hand(spark):
    rows = [("u4", day(20), 2, 1.5), ("u4", day(18), 1, None), ("u5", day(19), 3, 0.25),
            ("u6", day(14), 1, 1.0), ("u6", day(21), 4, 2.0),  # back after a gap longer than every window
            ("u7", day(22), 9, 9.0)]  # on the last as_of day: never seen
    daily = spark.createDataFrame(rows, "user_id string, dt date, n_cart long, value_sum double")
    got = as_dicts(window_sums(daily, ["user_id"], [day(21), day(22)], [1, 3], ["n_cart", "value_sum"]), "user_id")
    zero = {"n_cart_1d": 0, "value_sum_1d": 0.0, "active_days_1d": 0}
    assert got == {
        # as of 21: 1 day = 20; 3 days = 18..20. A null value counts 0.
        ("u4", 21): {"n_cart_1d": 2, "value_sum_1d": 1.5, "active_days_1d": 1,
                     "n_cart_3d": 3, "value_sum_3d": 1.5, "active_days_3d": 2, "days_since_last_event": 1},
        # as of 22: 1 day = 21 (no row); 3 days = 19..21.
        ("u4", 22): {**zero, "n_cart_3d": 2, "value_sum_3d": 1.5, "active_days_3d": 1, "days_since_last_event": 2},
        ("u5", 21): {**zero, "n_cart_3d": 3, "value_sum_3d": 0.25, "active_days_3d": 1, "days_since_last_event": 2},
        ("u5", 22): {**zero, "n_cart_3d": 3, "value_sum_3d": 0.25, "active_days_3d": 1, "days_since_last_event": 3},
        # u6: the row of 14 is out of every window; the row of 21 is on D = 21 (unseen), then seen on 22.
        ("u6", 22): {"n_cart_1d": 4, "value_sum_1d": 2.0, "active_days_1d": 1,
                     "n_cart_3d": 4, "value_sum_3d": 2.0, "active_days_3d": 1, "days_since_last_event": 1},
    }


def test_window_sums_equal_sums_over_history_rows_for_every_day(spark):
    # The range-frame sums against the plain definition: history's rows of each as_of day, grouped and summed.
    rows = [(f"u{u}", day(1 + d), u * d % 5, (u + d) % 3 * 0.125) for u in range(4) for d in range(20)
            if (u * 7 + d * 3) % 4 != 0]
    daily = spark.createDataFrame(rows, "user_id string, dt date, n_pv long, value_sum double")
    as_of_days = [day(n) for n in (2, 3, 8, 9, 15, 21, 24)]
    got = as_dicts(window_sums(daily, ["user_id"], as_of_days, [2, 7], ["n_pv", "value_sum"]), "user_id")
    expected = {}
    for row in history(daily, as_of_days, 7).collect():
        sums = expected.setdefault((row["user_id"], row["as_of"].day), {
            "n_pv_2d": 0, "value_sum_2d": 0.0, "active_days_2d": 0, "n_pv_7d": 0, "value_sum_7d": 0.0,
            "active_days_7d": 0, "days_since_last_event": None})
        age = (row["as_of"] - row["dt"]).days
        for days in (2, 7):
            if age <= days:
                sums[f"n_pv_{days}d"] += row["n_pv"]
                sums[f"value_sum_{days}d"] += row["value_sum"]
                sums[f"active_days_{days}d"] += 1
        sums["days_since_last_event"] = min(age, sums["days_since_last_event"] or age)
    assert len(expected) > 20 and got == expected
