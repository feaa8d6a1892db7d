//! A synthetic rainy season for measuring the model's skill beside the baseline of warning
//! wherever the forecast rain alone passes one fixed line (50 mm in 24 h, the rainstorm line)
//! regardless of susceptibility. [`report`] gives the tables of BENCHMARKS.md; the bench binary
//! (`cargo run --release -p geohazard-benches --bin forecast-bench [seed]`) prints them.
//!
//! The season: a province of 80 × 60 cells (0.05°) in six counties, susceptibility classes 0–4
//! from a smooth random field, 122 days (June–September) of storms; each cell-day an event
//! (a slope failure) happens with a probability rising with the day's effective rainfall over the
//! cell's own true critical value, which the model does not know (its lines are the default
//! ones). The forecast is the day's rain with a multiplicative error (lognormal, σ = 0.35)
//! and storms displaced by up to two cells; the antecedent rain is what was observed.

use std::fmt::Write;

use crate::areas;
use crate::grid::{Grid, GridSpec};
use crate::model::{self, ModelParams};
use crate::verify::{self, Counts, Day, Verification};
use geohazard_domain::WarningLevel;
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const NR: usize = 60;
const NC: usize = 80;
const DAYS: usize = 122;
/// The baseline's line: 50 mm in 24 h (暴雨).
const BASELINE_LINE: f64 = 50.0;

fn normal(rng: &mut StdRng) -> f64 {
    // Box–Muller.
    let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

fn blob(field: &mut Array2<f64>, r0: f64, c0: f64, radius: f64, peak: f64) {
    for ((r, c), v) in field.indexed_iter_mut() {
        let d2 = (r as f64 - r0).powi(2) + (c as f64 - c0).powi(2);
        *v += peak * (-d2 / (2.0 * radius * radius)).exp();
    }
}

/// The season of `seed`, verified, as Markdown tables.
pub fn report(seed: u64) -> String {
    let mut out = String::new();
    let mut rng = StdRng::seed_from_u64(seed);
    let spec = GridSpec {
        west: 103.0,
        south: 27.5,
        cell: 0.05,
        ncols: NC,
        nrows: NR,
    };

    // Susceptibility: a smooth field cut at its quantiles (15 % class 0, 30 % 1, 25 % 2, 20 % 3, 10 % 4).
    let mut field = Array2::zeros((NR, NC));
    for _ in 0..25 {
        let (r, c) = (
            rng.random_range(0.0..NR as f64),
            rng.random_range(0.0..NC as f64),
        );
        blob(
            &mut field,
            r,
            c,
            rng.random_range(3.0..10.0),
            rng.random_range(-1.0..1.0),
        );
    }
    let mut sorted: Vec<f64> = field.iter().copied().collect();
    sorted.sort_by(f64::total_cmp);
    let q = |p: f64| sorted[((sorted.len() - 1) as f64 * p) as usize];
    let cuts = [q(0.15), q(0.45), q(0.70), q(0.90)];
    let classes = field.mapv(|v| cuts.iter().filter(|c| v > **c).count() as u8);
    let sus = Grid {
        spec,
        values: classes.clone(),
    };
    // The true critical effective rainfall per class (unknown to the model), mm.
    let truth = [f64::INFINITY, 170.0, 120.0, 85.0, 60.0];
    // Six counties: 3 columns × 2 rows of blocks.
    let division_of = Array2::from_shape_fn((NR, NC), |(r, c)| {
        Some(format!("county-{}{}", r / 30 + 1, c * 3 / NC + 1))
    });

    // Rain: 0–3 storms a day, heavier in July and August, and light rain about.
    let mut rain: Vec<Array2<f64>> = vec![];
    let mut forecast: Vec<Array2<f64>> = vec![];
    for day in 0..DAYS {
        let wet = if (30..92).contains(&day) { 1.6 } else { 1.0 };
        let mut actual = Array2::from_elem((NR, NC), rng.random_range(0.0..3.0));
        let mut fc = actual.clone();
        let storms = (rng.random::<f64>() * 3.0 * wet) as usize;
        for _ in 0..storms {
            let (r, c) = (
                rng.random_range(0.0..NR as f64),
                rng.random_range(0.0..NC as f64),
            );
            let radius = rng.random_range(3.0..12.0);
            let peak = 20.0 + (-rng.random::<f64>().max(1e-9).ln()) * 45.0 * wet;
            blob(&mut actual, r, c, radius, peak);
            // The forecast's storm: displaced, its strength off by a lognormal factor.
            let (dr, dc) = (rng.random_range(-2.0..2.0), rng.random_range(-2.0..2.0));
            blob(
                &mut fc,
                r + dr,
                c + dc,
                radius,
                peak * (0.35 * normal(&mut rng)).exp(),
            );
        }
        rain.push(actual);
        forecast.push(fc);
    }

    let params = ModelParams::default();
    let mut events = vec![];
    let mut model_levels = vec![];
    let mut base_levels = vec![];
    let mut n_events = 0;
    for day in 0..DAYS {
        // Past days, yesterday first: observed rain.
        let past: Vec<Array2<f64>> = (1..=params.antecedent_days)
            .filter_map(|b| day.checked_sub(b).map(|d| rain[d].clone()))
            .collect();
        let true_eff = model::effective_antecedent(&params, &past, (NR, NC)) + &rain[day];
        let ev = Array2::from_shape_fn((NR, NC), |(r, c)| {
            let t = truth[classes[[r, c]] as usize];
            let x = (true_eff[[r, c]] - t) / (0.15 * t);
            let p = 0.08 / (1.0 + (-x).exp());
            rng.random::<f64>() < p
        });
        n_events += ev.iter().filter(|e| **e).count();
        events.push(ev);
        let raw = model::levels(&params, &sus, &past, &forecast[day]);
        model_levels.push(areas::remove_specks(&raw, params.min_area_cells));
        base_levels.push(model::baseline_levels(&forecast[day], BASELINE_LINE));
    }
    let season = |levels: &[Array2<Option<WarningLevel>>]| -> Verification {
        let days: Vec<Day> = levels
            .iter()
            .zip(&events)
            .map(|(issued, events)| Day { issued, events })
            .collect();
        verify::verify(&days, &division_of)
    };
    let m = season(&model_levels);
    let b = season(&base_levels);

    let f = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.3}"));
    let _ = writeln!(
        out,
        "seed {seed}: {NC}×{NR} cells, {DAYS} days, {n_events} events ({} cell-days)\n",
        NC * NR * DAYS
    );
    let _ = writeln!(
        out,
        "| warned at or above | method | hits | misses | false alarms | POD | FAR | CSI | HSS |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for level in WarningLevel::ALL {
        for (name, v) in [("model", &m), ("baseline", &b)] {
            let c: Counts = v.per_level[level.rank()];
            let _ = writeln!(
                out,
                "| {} | {name} | {} | {} | {} | {} | {} | {} | {} |",
                level.as_str(),
                c.hits,
                c.misses,
                c.false_alarms,
                f(c.pod()),
                f(c.far()),
                f(c.csi()),
                f(c.hss())
            );
        }
    }
    let _ = writeln!(out, "\nPer county, warned at or above yellow:\n");
    let _ = writeln!(
        out,
        "| county | model POD | model FAR | model HSS | baseline POD | baseline FAR | baseline HSS |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    let y = WarningLevel::Yellow.rank();
    for (d, mc) in &m.per_division {
        let bc = b.per_division[d][y];
        let mc = mc[y];
        let _ = writeln!(
            out,
            "| {d} | {} | {} | {} | {} | {} | {} |",
            f(mc.pod()),
            f(mc.far()),
            f(mc.hss()),
            f(bc.pod()),
            f(bc.far()),
            f(bc.hss())
        );
    }
    out
}
