//! The synthetic season's verification tables (the same as `forecast-bench` in benches/):
//! `cargo run -p geohazard-forecast --example season [seed]`.

fn main() {
    let seed: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2026);
    print!("{}", geohazard_forecast::season::report(seed));
}
