//! The numerical methods: least-squares fits, robust spike rejection, the improved tangent
//! angle, the inverse-velocity failure forecast, rainfall accumulations, intensity–duration
//! thresholds and effective antecedent rainfall. Pure functions; sources in docs/analyzer.md.

use ndarray::{Array1, ArrayView1};

/// Milliseconds per day, for velocities in unit/day.
pub const DAY_MS: f64 = 86_400_000.0;
pub const HOUR_MS: i64 = 3_600_000;

/// A straight line fitted by least squares, with its coefficient of determination.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineFit {
    pub slope: f64,
    pub intercept: f64,
    pub r2: f64,
    pub n: usize,
}

impl LineFit {
    /// The slope's t-statistic (slope over its standard error), from r² and n: how clearly the
    /// trend stands out from the scatter. Infinite for a perfect fit, 0 with too few points.
    pub fn slope_t(&self) -> f64 {
        if self.n <= 2 {
            return 0.0;
        }
        if self.r2 >= 1.0 {
            return f64::INFINITY;
        }
        (self.r2.max(0.0) * (self.n - 2) as f64 / (1.0 - self.r2)).sqrt()
    }
}

/// Least-squares line y = intercept + slope·x. `None` with fewer than two distinct x.
pub fn linear_fit(x: ArrayView1<f64>, y: ArrayView1<f64>) -> Option<LineFit> {
    let n = x.len();
    if n < 2 || y.len() != n {
        return None;
    }
    let mx = x.mean()?;
    let my = y.mean()?;
    let dx = &x - mx;
    let dy = &y - my;
    let sxx = dx.dot(&dx);
    if sxx <= f64::EPSILON * n as f64 {
        return None;
    }
    let sxy = dx.dot(&dy);
    let syy = dy.dot(&dy);
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let ss_res = (syy - slope * sxy).max(0.0);
    let r2 = if syy > 0.0 { 1.0 - ss_res / syy } else { 1.0 };
    (slope.is_finite() && intercept.is_finite()).then_some(LineFit {
        slope,
        intercept,
        r2,
        n,
    })
}

/// Least-squares parabola y = c0 + c1·u + c2·u² with u = x − mean(x) (centred for conditioning).
/// Returns (c0, c1, c2); the second derivative is 2·c2.
pub fn quadratic_fit(x: ArrayView1<f64>, y: ArrayView1<f64>) -> Option<[f64; 3]> {
    let n = x.len();
    if n < 3 || y.len() != n {
        return None;
    }
    let u = &x - x.mean()?;
    let u2 = &u * &u;
    let s = |a: &Array1<f64>, b: &Array1<f64>| a.dot(b);
    let ones = Array1::<f64>::ones(n);
    let yv = y.to_owned();
    // Normal equations, solved by Cramer's rule (3×3).
    let m = [
        [n as f64, s(&ones, &u), s(&ones, &u2)],
        [s(&ones, &u), s(&u, &u), s(&u, &u2)],
        [s(&ones, &u2), s(&u, &u2), s(&u2, &u2)],
    ];
    let r = [s(&ones, &yv), s(&u, &yv), s(&u2, &yv)];
    let det = det3(&m);
    if det.abs() < 1e-12 * m[0][0].max(1.0) * m[2][2].max(1e-300) {
        return None;
    }
    let mut out = [0.0; 3];
    for (k, o) in out.iter_mut().enumerate() {
        let mut mk = m;
        for row in 0..3 {
            mk[row][k] = r[row];
        }
        *o = det3(&mk) / det;
    }
    out.iter().all(|c| c.is_finite()).then_some(out)
}

/// The t-statistic of a fitted parabola's curvature c2 (c2 over its standard error): whether
/// the bend stands out from the scatter. Infinite for a perfect fit, 0 with too few points.
pub fn curvature_t(x: ArrayView1<f64>, y: ArrayView1<f64>, c: &[f64; 3]) -> f64 {
    let n = x.len();
    if n <= 3 {
        return 0.0;
    }
    let Some(mean) = x.mean() else { return 0.0 };
    let u = &x - mean;
    let fitted = u.mapv(|u| c[0] + c[1] * u + c[2] * u * u);
    let residual = &y - &fitted;
    let s2 = residual.dot(&residual) / (n - 3) as f64;
    let (s_u, s_u2, s_u3, s_u4) = (
        u.sum(),
        u.dot(&u),
        u.mapv(|v| v.powi(3)).sum(),
        u.mapv(|v| v.powi(4)).sum(),
    );
    let m = [[n as f64, s_u, s_u2], [s_u, s_u2, s_u3], [s_u2, s_u3, s_u4]];
    // Var(c2) = s²·(M⁻¹)₂₂, and (M⁻¹)₂₂ = its cofactor over det M.
    let inverse_22 = (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / det3(&m);
    let se = (s2 * inverse_22).sqrt();
    if se > 0.0 && se.is_finite() {
        c[2].abs() / se
    } else if s2 == 0.0 {
        f64::INFINITY
    } else {
        0.0
    }
}

fn det3(m: &[[f64; 3]; 3]) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

/// Median of a slice (reorders it). `None` when empty.
pub fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Flags spikes. The series is detrended by a least-squares parabola (so a trend or an
/// acceleration is not mistaken for spikes at the ends), then each point's distance from the
/// median of its four nearest neighbours (one-sided at the ends) is compared with `k` robust
/// standard deviations (1.4826·MAD of all such distances) and with `min_abs`. Returns a keep
/// mask. A real step at the newest point looks like a spike until the next reading confirms
/// it: one sample of delay is the price of never alarming on a single bad reading.
pub fn spike_mask(x: &[f64], y: &[f64], k: f64, min_abs: f64) -> Vec<bool> {
    let n = y.len();
    if n < 5 || x.len() != n {
        return vec![true; n];
    }
    // Two passes: the spikes found first no longer bend the parabola of the second.
    let first = spike_pass(x, y, &vec![true; n], k, min_abs);
    spike_pass(x, y, &first, k, min_abs)
}

fn spike_pass(x: &[f64], y: &[f64], fit_on: &[bool], k: f64, min_abs: f64) -> Vec<bool> {
    let n = y.len();
    let (fx, fy): (Vec<f64>, Vec<f64>) = x
        .iter()
        .zip(y)
        .zip(fit_on)
        .filter(|(_, keep)| **keep)
        .map(|((a, b), _)| (*a, *b))
        .unzip();
    let mx = fx.iter().sum::<f64>() / fx.len().max(1) as f64;
    let detrended: Vec<f64> = match (fx.len() >= 8)
        .then(|| quadratic_fit(ArrayView1::from(&fx), ArrayView1::from(&fy)))
        .flatten()
    {
        Some(c) => x
            .iter()
            .zip(y)
            .map(|(t, v)| {
                let u = t - mx;
                v - (c[0] + c[1] * u + c[2] * u * u)
            })
            .collect(),
        None => y.to_vec(),
    };
    let mut resid = Vec::with_capacity(n);
    let mut buf = Vec::with_capacity(4);
    for i in 0..n {
        // The four nearest other points (two each side inside the series).
        let start = i.saturating_sub(2).min(n - 5);
        buf.clear();
        buf.extend((start..start + 5).filter(|j| *j != i).map(|j| detrended[j]));
        let med = median(&mut buf).unwrap_or(detrended[i]);
        resid.push(detrended[i] - med);
    }
    let mut abs: Vec<f64> = resid.iter().map(|r| r.abs()).collect();
    let mad = median(&mut abs).unwrap_or(0.0);
    let scale = y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let limit = (k * 1.4826 * mad).max(min_abs).max(1e-9 * (1.0 + scale));
    resid.iter().map(|r| r.abs() <= limit).collect()
}

/// Time in days relative to the newest point, and values.
fn days_and_values(points: &[(i64, f64)]) -> (Vec<f64>, Vec<f64>) {
    let t0 = points.last().map(|p| p.0).unwrap_or(0);
    points
        .iter()
        .map(|p| ((p.0 - t0) as f64 / DAY_MS, p.1))
        .unzip()
}

fn kept(x: Vec<f64>, y: Vec<f64>, k: f64, min_abs: f64) -> (Array1<f64>, Array1<f64>, usize) {
    let keep = spike_mask(&x, &y, k, min_abs);
    let n = x.len();
    let (x, y): (Vec<f64>, Vec<f64>) = x
        .into_iter()
        .zip(y)
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(p, _)| p)
        .unzip();
    let rejected = n - x.len();
    (Array1::from(x), Array1::from(y), rejected)
}

/// A robust line through (time ms, value): spikes removed, then least squares with time in days.
/// Slope is in unit/day. Also returns how many points were rejected.
pub fn robust_velocity(points: &[(i64, f64)], k: f64, min_abs: f64) -> Option<(LineFit, usize)> {
    let (x, y) = days_and_values(points);
    let (x, y, rejected) = kept(x, y, k, min_abs);
    Some((linear_fit(x.view(), y.view())?, rejected))
}

/// A robust acceleration (unit/day²) from a parabola through the spike-free points, with the
/// t-statistic of the curvature it comes from.
pub fn robust_acceleration(points: &[(i64, f64)], k: f64, min_abs: f64) -> Option<(f64, f64)> {
    let (x, y) = days_and_values(points);
    let (x, y, _) = kept(x, y, k, min_abs);
    let c = quadratic_fit(x.view(), y.view())?;
    Some((2.0 * c[2], curvature_t(x.view(), y.view(), &c)))
}

/// Improved tangent angle (Xu Qiang et al. 2009): with displacement normalised by the
/// steady-state velocity, T = S/v, a steady slope plots at 45°; α = arctan(ΔT/Δt) =
/// arctan(v_now / v_steady), in degrees.
pub fn tangent_angle_deg(v_now: f64, v_steady: f64) -> f64 {
    (v_now / v_steady).atan().to_degrees()
}

/// The daily (thermal) cycle of a series: the amplitudes (sin, cos) of a 24-hour harmonic
/// fitted by least squares together with a cubic trend, so that creep, even accelerating creep,
/// is not mistaken for the cycle. `None` when the points are too few or too sparse to resolve a
/// daily cycle (daily readings alias it into a constant and need no correction).
///
/// Robust: a first fit's residuals flag the readings far from it (more than 5 robust standard
/// deviations, 1.4826·MAD), and the cycle is fitted again without them, so a single faulty
/// reading (a value a hundred times too large) does not become a daily swing for days.
pub fn diurnal_cycle(points: &[(i64, f64)]) -> Option<(f64, f64)> {
    let n = points.len();
    if n < 24 {
        return None;
    }
    let span = (points[n - 1].0 - points[0].0) as f64 / DAY_MS;
    // At least a day and a half, and at least eight readings a day.
    if span < 1.5 || (n as f64) < 8.0 * span {
        return None;
    }
    let t_mid = points[n / 2].0;
    let features = |t: i64| {
        let u = (t - t_mid) as f64 / DAY_MS;
        let phase = 2.0 * std::f64::consts::PI * (t as f64 / DAY_MS);
        [1.0, u, u * u, u * u * u, phase.sin(), phase.cos()]
    };
    let fit = |keep: &dyn Fn(usize) -> bool| {
        let mut m = [[0.0; 6]; 6];
        let mut r = [0.0; 6];
        for (i, (t, y)) in points.iter().enumerate() {
            if !keep(i) {
                continue;
            }
            let f = features(*t);
            for a in 0..6 {
                for b in 0..6 {
                    m[a][b] += f[a] * f[b];
                }
                r[a] += f[a] * y;
            }
        }
        solve(m, r)
    };
    let first = fit(&|_| true)?;
    let residuals: Vec<f64> = points
        .iter()
        .map(|(t, y)| {
            let f = features(*t);
            y - (0..6).map(|k| first[k] * f[k]).sum::<f64>()
        })
        .collect();
    let mut abs: Vec<f64> = residuals.iter().map(|r| r.abs()).collect();
    let mad = median(&mut abs).unwrap_or(0.0);
    let limit = 5.0 * 1.4826 * mad;
    let c = if mad > 0.0 && residuals.iter().any(|r| r.abs() > limit) {
        fit(&|i| residuals[i].abs() <= limit)?
    } else {
        first
    };
    Some((c[4], c[5]))
}

/// The series with its daily cycle taken out.
pub fn without_cycle(points: &[(i64, f64)], cycle: Option<(f64, f64)>) -> Vec<(i64, f64)> {
    match cycle {
        None => points.to_vec(),
        Some((s, c)) => points
            .iter()
            .map(|(t, y)| {
                let phase = 2.0 * std::f64::consts::PI * (*t as f64 / DAY_MS);
                (*t, y - s * phase.sin() - c * phase.cos())
            })
            .collect(),
    }
}

/// Gaussian elimination with partial pivoting.
fn solve<const N: usize>(mut m: [[f64; N]; N], mut r: [f64; N]) -> Option<[f64; N]> {
    for col in 0..N {
        let pivot = (col..N).max_by(|a, b| m[*a][col].abs().total_cmp(&m[*b][col].abs()))?;
        if m[pivot][col].abs() < 1e-12 {
            return None;
        }
        m.swap(col, pivot);
        r.swap(col, pivot);
        for row in col + 1..N {
            let f = m[row][col] / m[col][col];
            let pivot_row = m[col];
            for (x, p) in m[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            r[row] -= f * r[col];
        }
    }
    let mut x = [0.0; N];
    for row in (0..N).rev() {
        let s: f64 = (row + 1..N).map(|k| m[row][k] * x[k]).sum();
        x[row] = (r[row] - s) / m[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Inverse-velocity fit (Fukuzono 1985; Voight 1989 with α = 2): 1/v is linear in time as a
/// slope approaches failure; the failure time is where the line reaches zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InverseVelocity {
    pub fit: LineFit,
    /// The slope's t-statistic in the weighted fit: how clearly 1/v falls.
    pub slope_t: f64,
    /// Forecast failure time, ms, when the line falls towards zero.
    pub failure_ms: Option<i64>,
    /// Standard error of the failure time, ms (delta method on the fitted line).
    pub failure_se_ms: Option<f64>,
}

/// `velocities`: (time ms, velocity unit/day); non-positive velocities are skipped (1/v has no
/// meaning there). Time is fitted in days relative to `t_ref_ms`. Weighted least squares with
/// weights v⁴, the inverse variance: a velocity of constant error σ gives 1/v an error of σ/v²,
/// so the slow early velocities, whose inverses scatter most, count least. (Weights v², half
/// the power, let those dominate the residuals: on slow, noisy creeps the band stayed too wide
/// for a forecast until hours before failure; BENCHMARKS.md, issue 22.)
pub fn inverse_velocity(velocities: &[(i64, f64)], t_ref_ms: i64) -> Option<InverseVelocity> {
    let pts: Vec<(f64, f64, f64)> = velocities
        .iter()
        .filter(|(_, v)| *v > 0.0 && v.is_finite())
        .map(|(t, v)| ((t - t_ref_ms) as f64 / DAY_MS, 1.0 / v, v.powi(4)))
        .collect();
    let n = pts.len();
    if n < 3 {
        return None;
    }
    let sw: f64 = pts.iter().map(|p| p.2).sum();
    let mx = pts.iter().map(|p| p.2 * p.0).sum::<f64>() / sw;
    let my = pts.iter().map(|p| p.2 * p.1).sum::<f64>() / sw;
    let sxx: f64 = pts.iter().map(|p| p.2 * (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| p.2 * (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = pts.iter().map(|p| p.2 * (p.1 - my).powi(2)).sum();
    if sxx <= 0.0 || !sxx.is_finite() {
        return None;
    }
    let slope = sxy / sxx;
    let ss_res = (syy - slope * sxy).max(0.0);
    let s2 = ss_res / (n - 2) as f64;
    let se_slope = (s2 / sxx).sqrt();
    let se_level = (s2 / sw).sqrt();
    let fit = LineFit {
        slope,
        intercept: my - slope * mx,
        r2: if syy > 0.0 { 1.0 - ss_res / syy } else { 1.0 },
        n,
    };
    let slope_t = if se_slope > 0.0 {
        slope.abs() / se_slope
    } else {
        f64::INFINITY
    };
    // Zero crossing x0 = mx − my/slope; its variance from the independent errors of the
    // line's level at mx and of its slope.
    let x0 = mx - my / slope;
    let ok = slope < 0.0 && x0.is_finite() && x0.abs() < 3650.0;
    let se_days = ((se_level / slope).powi(2) + (my * se_slope / (slope * slope)).powi(2)).sqrt();
    Some(InverseVelocity {
        fit,
        slope_t,
        failure_ms: ok.then(|| t_ref_ms + (x0 * DAY_MS) as i64),
        failure_se_ms: ok.then_some(se_days * DAY_MS).filter(|s| s.is_finite()),
    })
}

/// Rain in each window (t − hours, t], from (time ms, rain in the sample ending then) sorted by
/// time. A reading holds the rain of the interval it covers: from the previous reading, and at
/// most `interval_ms` (the sensor's sampling interval) back, so a day's total read once a day is
/// spread over that day and not counted as if it fell in the last hour.
pub fn accumulations(
    points: &[(i64, f64)],
    t_ms: i64,
    windows_h: &[f64],
    interval_ms: i64,
) -> Vec<f64> {
    let starts: Vec<i64> = windows_h
        .iter()
        .map(|h| t_ms - (h * HOUR_MS as f64) as i64)
        .collect();
    let earliest = starts.iter().copied().min().unwrap_or(t_ms);
    let mut out = vec![0.0; windows_h.len()];
    let end = points.partition_point(|p| p.0 <= t_ms);
    for i in (0..end).rev() {
        let (ts, v) = points[i];
        let covers = match i.checked_sub(1) {
            Some(j) => (ts - points[j].0).min(interval_ms),
            None => interval_ms,
        }
        .max(1);
        let from = ts - covers;
        if ts <= earliest {
            break;
        }
        for (o, s) in out.iter_mut().zip(&starts) {
            let overlap = (ts - from.max(*s)).max(0);
            *o += v * overlap as f64 / covers as f64;
        }
    }
    out
}

/// Intensity–duration threshold I = a·D^−b (Caine 1980; Guzzetti et al. 2008), mm/h for D hours.
pub fn id_threshold(a: f64, b: f64, duration_h: f64) -> f64 {
    a * duration_h.powf(-b)
}

/// Effective antecedent rainfall (Crozier 1986): Σ kⁱ·Rᵢ, with R₀ the last day's rain and Rᵢ
/// the rain of the i-th day before.
pub fn antecedent_rainfall(daily: &[f64], k: f64) -> f64 {
    daily
        .iter()
        .enumerate()
        .map(|(i, r)| k.powi(i as i32) * r)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_recovered_exactly() {
        let x = Array1::from(vec![0.0, 1.0, 2.0, 3.0]);
        let y = x.mapv(|v| 2.0 + 0.5 * v);
        let f = linear_fit(x.view(), y.view()).unwrap();
        assert!((f.slope - 0.5).abs() < 1e-12 && (f.intercept - 2.0).abs() < 1e-12);
        assert!((f.r2 - 1.0).abs() < 1e-12);
        assert!(
            linear_fit(
                Array1::from(vec![1.0, 1.0]).view(),
                y.slice(ndarray::s![..2])
            )
            .is_none()
        );
    }

    #[test]
    fn a_parabola_gives_its_second_derivative() {
        let x = Array1::linspace(0.0, 2.0, 21);
        let y = x.mapv(|t| 1.0 + 0.3 * t + 1.5 * t * t);
        let c = quadratic_fit(x.view(), y.view()).unwrap();
        assert!((2.0 * c[2] - 3.0).abs() < 1e-9, "{c:?}");
    }

    /// Gaussian noise of standard deviation `sd`, reproducible.
    fn gaussian(seed: u64, sd: f64) -> impl FnMut() -> f64 {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        move || {
            let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
            sd * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        }
    }

    #[test]
    fn noise_gives_an_insignificant_trend_and_a_real_one_stands_out() {
        // Six hours of GNSS fixes every 10 min with 3 mm scatter: the fitted velocity can be
        // several mm/d either way, but its t-statistic stays small in most draws.
        let t = |i: i64| i * 600_000;
        let mut insignificant = 0;
        for seed in 0..200 {
            let mut noise = gaussian(seed, 3.0);
            let pts: Vec<(i64, f64)> = (0..36).map(|i| (t(i), noise())).collect();
            let (fit, _) = robust_velocity(&pts, 3.5, 0.0).unwrap();
            if fit.slope_t() < 3.0 {
                insignificant += 1;
            }
        }
        assert!(insignificant >= 195, "{insignificant} of 200");
        // A real 40 mm/d movement under the same scatter is plain.
        let mut noise = gaussian(7, 3.0);
        let pts: Vec<(i64, f64)> = (0..36)
            .map(|i| (t(i), 40.0 * t(i) as f64 / DAY_MS + noise()))
            .collect();
        let (fit, _) = robust_velocity(&pts, 3.5, 0.0).unwrap();
        assert!(fit.slope_t() > 5.0, "t = {}", fit.slope_t());
    }

    #[test]
    fn a_bend_stands_out_from_noise_only_when_it_is_there() {
        let t = |i: i64| i * 1_800_000;
        let mut straight = gaussian(11, 1.0);
        let flat: Vec<(i64, f64)> = (0..48)
            .map(|i| (t(i), 2.0 * t(i) as f64 / DAY_MS + straight()))
            .collect();
        let (_, t_flat) = robust_acceleration(&flat, 3.5, 0.0).unwrap();
        assert!(t_flat < 3.0, "t = {t_flat}");
        let mut bent = gaussian(11, 1.0);
        let curved: Vec<(i64, f64)> = (0..48)
            .map(|i| {
                let d = t(i) as f64 / DAY_MS;
                (t(i), 2.0 * d + 20.0 * d * d + bent())
            })
            .collect();
        let (a, t_curved) = robust_acceleration(&curved, 3.5, 0.0).unwrap();
        assert!(
            (a - 40.0).abs() < 10.0 && t_curved > 5.0,
            "a = {a}, t = {t_curved}"
        );
    }

    #[test]
    fn one_spike_is_rejected_and_the_velocity_is_unchanged() {
        // Steady creep of 0.5 mm/d with Gaussian noise of 0.02 mm, every 10 minutes.
        let mut noise = gaussian(3, 0.02);
        let mut pts: Vec<(i64, f64)> = (0..36)
            .map(|i| {
                (
                    i * 600_000,
                    10.0 + 0.5 * (i as f64 * 600_000.0 / DAY_MS) + noise(),
                )
            })
            .collect();
        let (clean, none) = robust_velocity(&pts, 3.5, 0.0).unwrap();
        assert_eq!(none, 0);
        pts[20].1 += 25.0;
        let (fit, rejected) = robust_velocity(&pts, 3.5, 0.0).unwrap();
        assert_eq!(rejected, 1);
        assert!(
            (fit.slope - clean.slope).abs() < 0.2,
            "{} vs {}",
            fit.slope,
            clean.slope
        );
        // A spike at the newest point is rejected too.
        pts[20].1 -= 25.0;
        pts[35].1 += 25.0;
        assert_eq!(robust_velocity(&pts, 3.5, 0.0).unwrap().1, 1);
    }

    #[test]
    fn steady_creep_is_45_degrees_and_faster_creep_steeper() {
        assert!((tangent_angle_deg(0.5, 0.5) - 45.0).abs() < 1e-12);
        assert!(tangent_angle_deg(5.7, 1.0) > 80.0);
        assert!(tangent_angle_deg(0.1, 1.0) < 45.0);
    }

    #[test]
    fn inverse_velocity_finds_the_failure_time_of_a_hyperbolic_creep() {
        // v = 1 / (A (tf − t)): 1/v falls linearly to zero at tf.
        let tf = 10.0 * DAY_MS;
        let v: Vec<(i64, f64)> = (0..20)
            .map(|i| {
                let t = i as f64 * 0.4 * DAY_MS;
                (t as i64, 1.0 / (0.2 * (tf - t) / DAY_MS))
            })
            .collect();
        let iv = inverse_velocity(&v, 0).unwrap();
        assert!(iv.fit.r2 > 0.999);
        assert!((iv.failure_ms.unwrap() as f64 - tf).abs() < 60_000.0);
        // Decelerating: no forecast.
        let slow: Vec<(i64, f64)> = v.iter().map(|(t, x)| (*t, 1.0 / x)).collect();
        assert_eq!(inverse_velocity(&slow, 0).unwrap().failure_ms, None);
    }

    #[test]
    fn a_noisy_inverse_velocity_gives_a_band_that_holds_the_truth() {
        let tf = 5.0 * DAY_MS;
        let mut noise = gaussian(5, 0.1);
        let v: Vec<(i64, f64)> = (0..16)
            .map(|i| {
                let t = (3.0 + i as f64 * 0.125) * DAY_MS;
                let v = 1.0 / (0.2 * (tf - t) / DAY_MS);
                (t as i64, v * (1.0 + noise()))
            })
            .collect();
        let iv = inverse_velocity(&v, 0).unwrap();
        let (f, se) = (iv.failure_ms.unwrap() as f64, iv.failure_se_ms.unwrap());
        assert!(se > 0.0 && se < 0.3 * DAY_MS, "se {} d", se / DAY_MS);
        assert!(
            (f - tf).abs() < 3.0 * se,
            "{} d off, se {}",
            (f - tf) / DAY_MS,
            se / DAY_MS
        );
    }

    #[test]
    fn the_daily_cycle_is_found_under_accelerating_creep_and_taken_out() {
        let pts: Vec<(i64, f64)> = (0..432)
            .map(|i| {
                let t = i * 600_000;
                let d = t as f64 / DAY_MS;
                let creep = 2.0 * d + 0.4 * d * d;
                (t, creep + 0.6 * (2.0 * std::f64::consts::PI * d).sin())
            })
            .collect();
        let (s, c) = diurnal_cycle(&pts).unwrap();
        assert!((s - 0.6).abs() < 0.02 && c.abs() < 0.02, "{s} {c}");
        let clean = without_cycle(&pts, Some((s, c)));
        let last_6h = &clean[clean.len() - 36..];
        let (fit, _) = robust_velocity(last_6h, 3.5, 0.0).unwrap();
        // The creep's own velocity at the end of day 3 (2 + 0.8·2.9), not the cycle's.
        assert!((fit.slope - 4.3).abs() < 0.1, "{}", fit.slope);
        // Daily readings cannot show a daily cycle.
        let daily: Vec<(i64, f64)> = (0..30).map(|i| (i * DAY_MS as i64, i as f64)).collect();
        assert_eq!(diurnal_cycle(&daily), None);
    }

    #[test]
    fn accumulations_sum_each_window_once() {
        // 1 mm every 10 minutes for 5 hours, ending at t = 5 h.
        let pts: Vec<(i64, f64)> = (1..=30).map(|i| (i * 600_000, 1.0)).collect();
        let acc = accumulations(&pts, 5 * HOUR_MS, &[3.0, 1.0, 24.0], 600_000);
        assert_eq!(acc, vec![18.0, 6.0, 30.0]);
        // Evaluated earlier, later readings do not count.
        assert_eq!(accumulations(&pts, HOUR_MS, &[1.0], 600_000), vec![6.0]);
    }

    #[test]
    fn a_daily_total_is_spread_over_the_day_it_covers() {
        // 48 mm read once a day: 2 mm in the last hour, 24 mm in the last 12 h, 48 in 24 h.
        let pts = vec![(24 * HOUR_MS, 0.0), (48 * HOUR_MS, 48.0)];
        let acc = accumulations(&pts, 48 * HOUR_MS, &[1.0, 12.0, 24.0, 72.0], 24 * HOUR_MS);
        for (got, want) in acc.iter().zip([2.0, 24.0, 48.0, 48.0]) {
            assert!((got - want).abs() < 1e-9, "{acc:?}");
        }
        // A gap longer than the sampling interval is not rain spread over the gap.
        let pts = vec![(0, 1.0), (10 * HOUR_MS, 6.0)];
        let acc = accumulations(&pts, 10 * HOUR_MS, &[1.0, 3.0], HOUR_MS);
        assert_eq!(acc, vec![6.0, 6.0]);
    }

    #[test]
    fn id_threshold_and_antecedent_rainfall_follow_their_formulas() {
        assert!((id_threshold(14.82, 0.39, 1.0) - 14.82).abs() < 1e-12);
        assert!((id_threshold(14.82, 0.39, 10.0) - 14.82 * 10f64.powf(-0.39)).abs() < 1e-12);
        let r = antecedent_rainfall(&[10.0, 10.0, 10.0], 0.5);
        assert!((r - 17.5).abs() < 1e-12);
    }
}
