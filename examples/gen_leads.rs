//! A seeded generator of lead tables for predictive scoring: 20 features
//! of a B2B lead (firmographics, engagement, source) and whether it won.
//!
//! ```sh
//! cargo run --release --example gen_leads -- N [--seed S] > leads.csv
//! ```
//!
//! Writes N rows with a header: ten numeric columns (`employees`,
//! `revenue_musd`, `visits`, `page_views`, `email_opens`, `email_clicks`,
//! `webinar_minutes`, `days_since_signup`, `pricing_views`,
//! `support_tickets`), ten categorical ones (`industry`, `country`,
//! `source`, `title`, `plan`, `device`, `region`, `channel`, `intent`,
//! `company_type`) and `outcome` (`won` or `lost`). The outcome is drawn
//! from a known logistic model of the features (log employees, a
//! saturating effect of visits, an interaction of title and intent), so no
//! model in the crate is exactly right; about 5 % of values are missing and
//! some numbers are written the way CRMs hold them (`1,200`). The same
//! arguments always write the same file.

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
    /// A standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = self.unit().max(1e-300);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
    /// A Poisson-like count with mean `m` (rounded exponential mixture).
    fn count(&mut self, m: f64) -> u32 {
        (-(self.unit().max(1e-300)).ln() * m).floor() as u32
    }
}

const INDUSTRY: [(&str, f64); 8] = [
    ("software", 0.9),
    ("fintech", 0.6),
    ("healthcare", 0.2),
    ("manufacturing", -0.1),
    ("retail", -0.5),
    ("education", -0.7),
    ("media", -0.2),
    ("public sector", -0.9),
];
const COUNTRY: [(&str, f64); 10] = [
    ("US", 0.3),
    ("DE", 0.2),
    ("GB", 0.2),
    ("FR", 0.0),
    ("NL", 0.1),
    ("ES", -0.2),
    ("IT", -0.2),
    ("BR", -0.4),
    ("IN", -0.5),
    ("JP", 0.0),
];
const SOURCE: [(&str, f64); 6] = [
    ("referral", 0.8),
    ("organic", 0.3),
    ("paid_search", -0.1),
    ("paid_social", -0.5),
    ("event", 0.2),
    ("outbound", -0.3),
];
const TITLE: [(&str, f64); 6] = [
    ("c-level", 0.6),
    ("vp", 0.5),
    ("director", 0.3),
    ("manager", 0.0),
    ("individual", -0.4),
    ("student", -1.5),
];
const PLAN: [(&str, f64); 3] = [("free", -0.4), ("trial", 0.4), ("none", 0.0)];
const DEVICE: [(&str, f64); 3] = [("desktop", 0.1), ("mobile", -0.1), ("tablet", 0.0)];
const REGION: [(&str, f64); 4] = [("amer", 0.0), ("emea", 0.0), ("apac", 0.0), ("latam", 0.0)];
const CHANNEL: [(&str, f64); 4] = [("email", 0.1), ("web", 0.0), ("phone", 0.3), ("chat", 0.2)];
const INTENT: [(&str, f64); 3] = [("high", 0.7), ("medium", 0.1), ("low", -0.6)];
const COMPANY: [(&str, f64); 4] = [
    ("private", 0.1),
    ("public", 0.2),
    ("nonprofit", -0.4),
    ("government", -0.3),
];

fn main() {
    let mut rows: Option<usize> = None;
    let mut seed = 7u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seed" => {
                seed = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            _ => rows = Some(a.parse().unwrap_or_else(|_| usage())),
        }
    }
    let rows = rows.unwrap_or_else(|| usage());
    let mut rng = Rng(seed);
    let mut out = BufWriter::new(std::io::stdout().lock());
    writeln!(
        out,
        "employees,revenue_musd,visits,page_views,email_opens,email_clicks,webinar_minutes,\
         days_since_signup,pricing_views,support_tickets,industry,country,source,title,plan,\
         device,region,channel,intent,company_type,outcome"
    )
    .unwrap();
    let mut line = String::new();
    for _ in 0..rows {
        line.clear();
        let employees = (3.5 + 1.6 * rng.normal()).exp().round().max(1.0);
        let revenue = employees * (0.05 + 0.2 * rng.unit());
        let visits = rng.count(6.0);
        let page_views = visits * (1 + rng.count(3.0));
        let opens = rng.count(4.0);
        let clicks = opens.min(rng.count(1.5));
        let webinar = if rng.unit() < 0.2 { rng.count(40.0) } else { 0 };
        let days = rng.count(90.0);
        let pricing = rng.count(0.8);
        let tickets = rng.count(0.5);
        let mut pick = |table: &[(&'static str, f64)]| table[rng.below(table.len())];
        let cats = [
            pick(&INDUSTRY),
            pick(&COUNTRY),
            pick(&SOURCE),
            pick(&TITLE),
            pick(&PLAN),
            pick(&DEVICE),
            pick(&REGION),
            pick(&CHANNEL),
            pick(&INTENT),
            pick(&COMPANY),
        ];
        // The ground truth: nonlinear in places on purpose.
        let mut z = -2.2
            + 0.35 * (employees.ln() - 3.5)
            + 0.9 * (1.0 - (-f64::from(visits) / 4.0).exp())
            + 0.08 * f64::from(clicks)
            + 0.012 * f64::from(webinar).min(60.0)
            - 0.004 * f64::from(days)
            + 0.35 * f64::from(pricing).min(3.0)
            - 0.1 * f64::from(tickets);
        z += cats.iter().map(|(_, effect)| effect).sum::<f64>();
        if cats[3].0 == "c-level" && cats[8].0 == "high" {
            z += 0.8;
        }
        let won = rng.unit() < 1.0 / (1.0 + (-z).exp());
        let numbers = [
            employees,
            (revenue * 100.0).round() / 100.0,
            f64::from(visits),
            f64::from(page_views),
            f64::from(opens),
            f64::from(clicks),
            f64::from(webinar),
            f64::from(days),
            f64::from(pricing),
            f64::from(tickets),
        ];
        for (i, x) in numbers.iter().enumerate() {
            if rng.unit() >= 0.05 {
                if i == 0 && *x >= 1000.0 && rng.unit() < 0.3 {
                    // As a CRM field holds it.
                    let n = *x as u64;
                    line.push_str(&format!("\"{},{:03}\"", n / 1000, n % 1000));
                } else {
                    line.push_str(&x.to_string());
                }
            }
            line.push(',');
        }
        for (name, _) in cats {
            if rng.unit() >= 0.05 {
                line.push_str(name);
            }
            line.push(',');
        }
        line.push_str(if won { "won" } else { "lost" });
        writeln!(out, "{line}").unwrap();
    }
    out.flush().unwrap();
}

fn usage() -> ! {
    eprintln!("usage: gen_leads N [--seed S] > leads.csv");
    std::process::exit(2)
}
