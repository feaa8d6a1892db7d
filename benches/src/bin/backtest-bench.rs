//! How long a rule backtest takes: one sensor's stored history run through the analyzer's
//! evaluation (`geohazard_rules::backtest::run`) as the command-center runs it, for the
//! default crack-meter rules (rate, tangent angle) and a mud-level threshold, over `--days` of
//! readings every `--step-s` seconds, plus the 30 days that warm the window.
//!
//! `cargo run --release -p geohazard-benches --bin backtest-bench -- --days 30 --step-s 600`

use std::time::Instant;

use clap::Parser;
use geohazard_rules::backtest::{self, Sensor};
use geohazard_rules::rules::{RateParams, SensorRules, ThresholdParams, TrendParams};
use rand::{Rng, SeedableRng};

#[derive(Parser)]
struct Args {
    /// Days of readings judged.
    #[arg(long, default_value_t = 30)]
    days: i64,
    /// Seconds between readings.
    #[arg(long, default_value_t = 600)]
    step_s: i64,
}

fn main() {
    let args = Args::parse();
    let warm_days = 30;
    let start_ms: i64 = 1_790_000_000_000;
    let from_ms = start_ms + warm_days * 86_400_000;
    let n = ((warm_days + args.days) * 86_400 / args.step_s) as usize;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    // Creep of 0.5 mm/day with a daily thermal swing and noise, accelerating over the last
    // two days judged.
    let readings: Vec<(i64, f64)> = (0..n)
        .map(|i| {
            let t = start_ms + i as i64 * args.step_s * 1000;
            let d = (t - start_ms) as f64 / 86_400_000.0;
            let end = (warm_days + args.days) as f64;
            let accel = (d - (end - 2.0)).max(0.0).powi(3) * 5.0;
            let v = 0.5 * d
                + 0.05 * (d * std::f64::consts::TAU).sin()
                + accel
                + rng.random_range(-0.02..0.02);
            (t, v)
        })
        .collect();
    let sensor = Sensor {
        unit: "mm".into(),
        sampling_interval_s: args.step_s as i32,
        id_curve: None,
    };
    let cases = [
        (
            "crack meter: rate + tangent angle",
            SensorRules {
                rate: Some(RateParams::default()),
                trend: Some(TrendParams::default()),
                ..SensorRules::default()
            },
        ),
        (
            "threshold",
            SensorRules {
                threshold: Some(ThresholdParams::default()),
                ..SensorRules::default()
            },
        ),
    ];
    for (name, rules) in cases {
        let started = Instant::now();
        let out = backtest::run(&rules, &sensor, &readings, from_ms);
        let took = started.elapsed();
        println!(
            "{name}: {} readings judged ({} stored) in {:.0} ms, {:.1} µs a reading; {} warnings",
            out.readings,
            readings.len(),
            took.as_secs_f64() * 1000.0,
            took.as_secs_f64() * 1e6 / out.readings.max(1) as f64,
            out.warnings.len()
        );
    }
}
