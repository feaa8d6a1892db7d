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

/// Inverse-velocity fit (Fukuzono 1985; Voight 1989 with α = 2): 1/v is linear in time as a
/// slope approaches failure; the failure time is where the line reaches zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InverseVelocity {
    pub fit: LineFit,
    /// Forecast failure time, ms, when the line falls towards zero.
    pub failure_ms: Option<i64>,
}

/// `velocities`: (time ms, velocity unit/day); non-positive velocities are skipped (1/v has no
/// meaning there). Time is fitted in days relative to `t_ref_ms`.
pub fn inverse_velocity(velocities: &[(i64, f64)], t_ref_ms: i64) -> Option<InverseVelocity> {
    let (x, y): (Vec<f64>, Vec<f64>) = velocities
        .iter()
        .filter(|(_, v)| *v > 0.0 && v.is_finite())
        .map(|(t, v)| ((t - t_ref_ms) as f64 / DAY_MS, 1.0 / v))
        .unzip();
    let fit = linear_fit(Array1::from(x).view(), Array1::from(y).view())?;
    let failure_ms = (fit.slope < 0.0)
        .then(|| -fit.intercept / fit.slope)
        .filter(|d| d.is_finite() && d.abs() < 3650.0)
        .map(|d| t_ref_ms + (d * DAY_MS) as i64);
    Some(InverseVelocity { fit, failure_ms })
}

/// Rain in each window (t − hours, t], from (time ms, rain in the sample ending then) sorted by
/// time. One backward pass however many windows.
pub fn accumulations(points: &[(i64, f64)], t_ms: i64, windows_h: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..windows_h.len()).collect();
    order.sort_by(|a, b| windows_h[*a].total_cmp(&windows_h[*b]));
    let mut out = vec![0.0; windows_h.len()];
    let mut sum = 0.0;
    let mut w = 0;
    for &(ts, v) in points.iter().rev() {
        if ts > t_ms {
            continue;
        }
        while w < order.len() && ts <= t_ms - (windows_h[order[w]] * HOUR_MS as f64) as i64 {
            out[order[w]] = sum;
            w += 1;
        }
        if w == order.len() {
            break;
        }
        sum += v;
    }
    for &i in &order[w..] {
        out[i] = sum;
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
    fn accumulations_sum_each_window_once() {
        // 1 mm every 10 minutes for 5 hours, ending at t = 5 h.
        let pts: Vec<(i64, f64)> = (1..=30).map(|i| (i * 600_000, 1.0)).collect();
        let acc = accumulations(&pts, 5 * HOUR_MS, &[3.0, 1.0, 24.0]);
        assert_eq!(acc, vec![18.0, 6.0, 30.0]);
        // Evaluated earlier, later readings do not count.
        assert_eq!(accumulations(&pts, HOUR_MS, &[1.0]), vec![6.0]);
    }

    #[test]
    fn id_threshold_and_antecedent_rainfall_follow_their_formulas() {
        assert!((id_threshold(14.82, 0.39, 1.0) - 14.82).abs() < 1e-12);
        assert!((id_threshold(14.82, 0.39, 10.0) - 14.82 * 10f64.powf(-0.39)).abs() < 1e-12);
        let r = antecedent_rainfall(&[10.0, 10.0, 10.0], 0.5);
        assert!((r - 17.5).abs() < 1e-12);
    }
}
