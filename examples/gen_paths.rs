//! A seeded generator of realistic path tables, for tests and benchmarks.
//!
//! ```sh
//! cargo run --release --example gen_paths -- N K [--seed S] [--no-value] [--no-null] > paths.csv
//! ```
//!
//! Writes N distinct paths over K channels (`ch01` … ) with a header
//! `path,total_conversions,total_conversion_value,total_null`. Path lengths
//! are geometric (mean about 3.5); each channel has its own effect on the
//! conversion rate; each path is walked by a geometric number of users, and
//! converting users bring a deal value. The same arguments always write the
//! same file.

use std::collections::HashSet;
use std::io::{BufWriter, Write};

/// SplitMix64: small, fast, and good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Geometric on 1, 2, … with success probability p.
    fn geometric(&mut self, p: f64, cap: usize) -> usize {
        let mut k = 1;
        while k < cap && self.unit() > p {
            k += 1;
        }
        k
    }
}

fn main() {
    let mut positional = Vec::new();
    let mut seed = 42u64;
    let (mut value, mut null) = (true, true);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seed" => {
                seed = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--no-value" => value = false,
            "--no-null" => null = false,
            _ => positional.push(a.parse::<usize>().unwrap_or_else(|_| usage())),
        }
    }
    let [n, k] = positional[..] else { usage() };
    if k == 0 || k > 99 {
        usage();
    }
    let mut rng = Rng(seed);
    // Channel effects on the log-odds of converting, and their popularity.
    let lift: Vec<f64> = (0..k).map(|_| rng.unit() * 1.6 - 0.6).collect();
    let popularity: Vec<f64> = (0..k).map(|_| 0.2 + rng.unit()).collect();
    let total_pop: f64 = popularity.iter().sum();
    let pick = |rng: &mut Rng| {
        let mut x = rng.unit() * total_pop;
        for (i, p) in popularity.iter().enumerate() {
            if x < *p {
                return i;
            }
            x -= p;
        }
        k - 1
    };
    let mut seen = HashSet::with_capacity(n);
    let out = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, out.lock());
    let mut header = vec!["path", "total_conversions"];
    if value {
        header.push("total_conversion_value");
    }
    if null {
        header.push("total_null");
    }
    let _ = writeln!(out, "{}", header.join(","));
    let mut path = Vec::new();
    let mut written = 0;
    let mut attempts = 0u64;
    while written < n {
        attempts += 1;
        // Longer paths once the short ones are used up.
        let cap = 4 + (attempts / (n as u64 + 1)) as usize * 4;
        path.clear();
        let len = rng.geometric(0.3, cap.min(40));
        for _ in 0..len {
            path.push(pick(&mut rng));
        }
        let text = path
            .iter()
            .map(|c| format!("ch{:02}", c + 1))
            .collect::<Vec<_>>()
            .join(" > ");
        if !seen.insert(text.clone()) {
            continue;
        }
        let logit: f64 = -2.0 + path.iter().map(|&c| lift[c]).sum::<f64>() / (len as f64).sqrt();
        let p = 1.0 / (1.0 + (-logit).exp());
        let users = rng.geometric(0.25, 200);
        let conversions = (0..users).filter(|_| rng.unit() < p).count();
        let nulls = users - conversions;
        let _ = write!(out, "{text},{conversions}");
        if value {
            let mut v = 0.0;
            for _ in 0..conversions {
                v += 500.0 + rng.below(9500) as f64;
            }
            let _ = write!(out, ",{v:.2}");
        }
        if null {
            let _ = write!(out, ",{nulls}");
        }
        let _ = writeln!(out);
        written += 1;
    }
    let _ = out.flush();
}

fn usage() -> ! {
    eprintln!("usage: gen_paths N K [--seed S] [--no-value] [--no-null]   (1 <= K <= 99)");
    std::process::exit(2)
}
