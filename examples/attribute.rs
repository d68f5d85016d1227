//! Attribute a ChannelAttribution path table from the command line.
//!
//! ```sh
//! cargo run --release --example attribute -- [--model M]... [--order K] [--sep C] [--delimiter C] [--solver-work STEPS] FILE
//! ```
//!
//! FILE is a path table with a header (`-` reads stdin): columns `path`,
//! `total_conversions`, optional `total_conversion_value` and `total_null`,
//! others ignored. The field delimiter is detected from the header among
//! `,` `;` and tab unless `--delimiter` says (`tab` or `\t` for a tab).
//! Channels in a path are split on `--sep` (default `>`) and trimmed.
//! `--model` is `first`, `last`, `linear`, `position`, `j_shaped`,
//! `inverse_j`, `markov` or `shapley`, repeatable (default `markov`);
//! `--order` is the Markov order (default 1); `--solver-work` raises the
//! bound on the Markov solves (`Limits::solver_work`, default 10^10
//! steps, about ten seconds: many channels cost one solve each). Values are printed as exact
//! decimals that sum to the file's total for each model.
//!
//! Output (stdout, CSV): `model,channel_name,conversions,value`, one row per
//! model and channel, models in the order given, channels in order of first
//! appearance; `value` is empty without a value column. Numbers are printed
//! with the shortest representation that reads back to the same `f64` (up to
//! 17 significant digits). Errors go to stderr, naming the line, with a
//! non-zero exit.

use std::io::{BufReader, BufWriter};
use std::process::ExitCode;

use leadflow::attribution::{Limits, PathModel, PathReadOptions, PathReader, PathTally};

const USAGE: &str = "usage: attribute [--model M]... [--order K] [--sep C] [--delimiter C] [--solver-work STEPS] FILE";

struct Args {
    models: Vec<PathModel>,
    order: usize,
    options: PathReadOptions,
    limits: Limits,
    file: String,
}

fn parse_args() -> Result<Args, String> {
    let mut models = Vec::new();
    let mut order = 1;
    let mut options = PathReadOptions::default();
    let mut limits = Limits::default();
    let mut file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--model" => {
                let m = value("--model")?;
                models.push(m.parse::<PathModel>().map_err(|e| e.to_string())?);
            }
            "--order" => {
                let v = value("--order")?;
                order = v
                    .parse()
                    .map_err(|_| format!("--order {v:?}: expected a whole number of at least 1"))?;
            }
            "--sep" => options.sep = value("--sep")?,
            "--solver-work" => {
                let v = value("--solver-work")?;
                limits.solver_work = v
                    .parse()
                    .map_err(|_| format!("--solver-work {v:?}: expected a whole number"))?;
            }
            "--delimiter" => {
                let v = value("--delimiter")?;
                let d = match v.as_str() {
                    "tab" | "\\t" => '\t',
                    _ => {
                        let mut chars = v.chars();
                        match (chars.next(), chars.next()) {
                            (Some(c), None) => c,
                            _ => return Err(format!("--delimiter {v:?}: expected one character")),
                        }
                    }
                };
                options.delimiter = Some(d);
            }
            "-h" | "--help" => return Err(USAGE.into()),
            "-" => file = Some(arg),
            s if s.starts_with("--") => return Err(format!("unknown option {s}\n{USAGE}")),
            _ if file.is_some() => return Err(format!("more than one FILE\n{USAGE}")),
            _ => file = Some(arg),
        }
    }
    if models.is_empty() {
        models.push(PathModel::Markov);
    }
    let file = file.ok_or(format!("missing FILE\n{USAGE}"))?;
    Ok(Args {
        models,
        order,
        options,
        limits,
        file,
    })
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let mut tally = PathTally::new(&args.models, args.order)
        .map_err(|e| e.to_string())?
        .with_limits(args.limits);
    let name = if args.file == "-" {
        "stdin"
    } else {
        args.file.as_str()
    };
    if args.file == "-" {
        let input = BufReader::with_capacity(1 << 16, std::io::stdin());
        let mut reader =
            PathReader::new(input, args.options).map_err(|e| format!("{name}: {e}"))?;
        tally
            .read(&mut reader)
            .map_err(|e| format!("{name}: {e}"))?;
    } else {
        // A file is read in ranges, one per core, tallied in parallel and
        // merged: the same result as one pass.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        tally
            .read_file(&args.file, args.options, threads)
            .map_err(|e| format!("{name}: {e}"))?;
    }
    let report = tally.finish().map_err(|e| format!("{name}: {e}"))?;
    report
        .write_csv(BufWriter::new(std::io::stdout().lock()))
        .map_err(|e| format!("writing output: {e}"))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.contains("Broken pipe") => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
