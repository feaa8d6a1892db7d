//! Evidence read back from its stored JSON is the evidence written: every method, the optional
//! parts (a trend without a fit), and numbers that were not finite (stored as `null`).

use geohazard_warnings::Evidence;
use geohazard_warnings::evidence::{SilenceEvidence, SteadyFrom};
use serde_json::{Value, json};

fn read(v: Value) -> Evidence {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
}

#[test]
fn every_method_reads_back_as_it_was_written() {
    let stored = [
        json!({"method": "threshold", "ts": 1, "value": 35.2, "unit": "mm", "direction": "above",
               "hysteresis": 0.5, "thresholds": {"yellow": 10.0, "orange": 20.0, "red": 30.0}}),
        json!({"method": "rate", "ts": 1, "velocity_mm_per_day": 6.4, "velocity_t": 8.25,
               "velocity_se": 0.78, "velocity_judged": 6.4, "judged_window_h": 24.0,
               "acceleration_mm_per_day2": null, "acceleration_t": null, "min_t": 3.0,
               "fit_r2": 0.93, "points": 48, "spikes_rejected": 1, "window_h": 24.0,
               "thresholds": {"yellow": 2.0, "orange": 5.0, "red": 10.0}}),
        json!({"method": "rainfall", "ts": 1, "id_ratio_max": 1.9, "id_curve": {"a": 12.0, "b": 0.6},
               "id_level": null,
               "windows": [{"hours": 1.0, "mm": 22.5, "level": "yellow",
                            "id_threshold_mm_per_h": 12.0, "id_ratio": 1.9}],
               "antecedent": {"k": 0.8, "daily_mm": [61.0, 12.0], "effective_mm": 70.6,
                              "level": null, "drained": false, "active_mm": 70.6}}),
        json!({"method": "improved_tangent_angle", "ts": 1, "alpha_deg": 84.2,
               "velocity_mm_per_day": 9.1, "velocity_se": 0.3, "velocity_z": 30.0,
               "steady_velocity_mm_per_day": 0.9, "steady_from": {"estimated_from_days": 4},
               "points": 72, "spikes_rejected": 0, "window_h": 72.0,
               "thresholds_deg": {"yellow": 45.0, "orange": 80.0, "red": 85.0},
               "inverse_velocity": {"method": "inverse_velocity", "bins": 12, "bin_h": 6.0,
                   "smooth_h": 12.0, "slope_per_day": -0.05, "intercept": 0.1, "r2": 0.91,
                   "slope_t": -9.0, "failure_forecast_ts": 5, "band_h": 3.0, "accepted": true},
               "failure_forecast_ts": 5, "failure_band_h": 3.0}),
        json!({"method": "improved_tangent_angle", "ts": 1, "alpha_deg": 40.0,
               "velocity_mm_per_day": 1.0, "velocity_se": 0.3, "velocity_z": 3.0,
               "steady_velocity_mm_per_day": 0.9, "steady_from": "configured",
               "points": 3, "spikes_rejected": 0, "window_h": 72.0,
               "thresholds_deg": {"yellow": 45.0},
               "inverse_velocity": {"method": "inverse_velocity", "bins": 3, "accepted": false}}),
        json!({"method": "gateway_status", "min_battery_pct": 20.0, "min_supply_v": 11.5,
               "status": {"online": true, "battery_pct": 18.0}}),
        json!({"method": "silence", "gateway": "gw-1", "silent_for_s": 5400.0, "limit_s": 1800.0}),
        json!({"method": "silence", "silent_for_s": 5400.0, "limit_s": 1800.0}),
        json!({"method": "silence", "ts": 7}),
        json!({"method": "stuck", "value": 12.345, "identical_samples": 30, "limit": 24, "ts": 1}),
        json!({"method": "suspect_reading", "ts": 1, "value": 900.0, "neighbours_max": 3.0,
               "ratio_limit": 20.0, "refuted": true}),
        json!({"method": "combined", "rain_level": "orange", "displacement_level": "yellow",
               "raise_by": 1}),
    ];
    for v in stored {
        let e = read(v.clone());
        assert_eq!(read(e.to_json()), e, "{v}");
        assert_eq!(e.to_json()["method"], v["method"]);
    }
    assert!(matches!(
        read(json!({"method": "silence", "ts": 7})),
        Evidence::Silence(SilenceEvidence::Over { ts: 7 })
    ));
    let Evidence::ImprovedTangentAngle(t) = read(json!({"method": "improved_tangent_angle",
        "ts": 1, "alpha_deg": 40.0, "velocity_mm_per_day": 1.0, "velocity_se": 0.3,
        "velocity_z": 3.0, "steady_velocity_mm_per_day": 0.9,
        "steady_from": {"estimated_from_days": 4}, "points": 3, "spikes_rejected": 0,
        "window_h": 72.0, "thresholds_deg": {},
        "inverse_velocity": {"method": "inverse_velocity", "bins": 3, "accepted": false}}))
    else {
        panic!("a trend")
    };
    assert_eq!(
        t.steady_from,
        SteadyFrom::Estimated {
            estimated_from_days: 4
        }
    );
    assert!(t.inverse_velocity.unwrap().fit.is_none());
}

#[test]
fn a_number_that_was_not_finite_reads_back_as_nan_and_is_stored_the_same() {
    let mut e = Evidence::threshold(1, f64::NAN, "mm", Default::default());
    let stored = e.to_json();
    assert_eq!(stored["value"], Value::Null);
    e = read(stored.clone());
    let Evidence::Threshold(t) = &e else {
        panic!("a threshold")
    };
    assert!(t.value.is_nan());
    assert_eq!(e.to_json(), stored);
}

#[test]
fn a_shape_no_method_has_is_refused() {
    for v in [
        json!({}),
        json!({"forged": true}),
        json!({"method": "threshold", "value": "high"}),
        json!({"method": "no_such_method"}),
        json!("a string"),
    ] {
        assert!(
            serde_json::from_value::<Evidence>(v.clone()).is_err(),
            "{v}"
        );
    }
}
