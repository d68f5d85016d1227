//! Exact Markov-chain attribution with removal effects.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

use super::channels::{Channels, FxMap};
use super::limits::{Limit, Limits};
use super::{AttributionError, AttributionModel, Journey};
use crate::exact::ExactSum;

const START: u32 = u32::MAX;
const CONV: u32 = u32::MAX - 1;
const NULL: u32 = u32::MAX - 2;

/// The sparse solver's relative tolerance: sweeps stop when no state's
/// value changes by more than this share of the largest value.
const TOLERANCE: f64 = 1e-15;

/// A pivot this small means the dense system is singular.
const SINGULAR: f64 = 1e-300;

/// States with ids below this have their edges in the dense matrix.
const DENSE: usize = 256;
const DENSE_COLS: usize = DENSE + 2;

/// The dense-matrix slot of an edge, if both ends are dense.
fn dense_slot(from: u32, to: u32) -> Option<usize> {
    let row = match from {
        START => DENSE,
        f if (f as usize) < DENSE => f as usize,
        _ => return None,
    };
    let col = match to {
        CONV => DENSE,
        NULL => DENSE + 1,
        t if (t as usize) < DENSE => t as usize,
        _ => return None,
    };
    Some(row * DENSE_COLS + col)
}

fn from_slot(slot: usize) -> (u32, u32) {
    let (row, col) = (slot / DENSE_COLS, slot % DENSE_COLS);
    let from = if row == DENSE { START } else { row as u32 };
    let to = match col {
        c if c == DENSE => CONV,
        c if c == DENSE + 1 => NULL,
        c => c as u32,
    };
    (from, to)
}

fn edge(from: u32, to: u32) -> u64 {
    (u64::from(from) << 32) | u64::from(to)
}

fn split(e: u64) -> (u32, u32) {
    ((e >> 32) as u32, e as u32)
}

/// Up to this many transient states the chain is solved by dense Gaussian
/// elimination; above, by Gauss–Seidel sweeps on the sparse chain until
/// they no longer change the result (to 1e-15 relative).
const DENSE_MAX: usize = 400;

/// Up to this many states a chain whose sweeps converge slowly (a state
/// almost never leaves, as on one very long path) falls back to the direct
/// solve (at most ~1 200³/3 operations per system); above, the sweep limit
/// is a typed error.
const DENSE_FALLBACK_MAX: usize = 1_200;

/// The portable (serde) form of [`MarkovCounts`]: states as windows of
/// channel ids; edges `(from, to, weight)` between state ids, with the
/// start, conversion and null states as `u32::MAX`, `u32::MAX − 1` and
/// `u32::MAX − 2`; ends `(state, conversions, value)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MarkovData {
    order: usize,
    states: Vec<Vec<u32>>,
    edges: Vec<(u32, u32, u64)>,
    ends: Vec<(u32, u64, ExactSum)>,
}

/// Transition counts: the mergeable partial state of a Markov fit.
#[derive(Debug, Clone)]
pub(crate) struct MarkovCounts {
    order: usize,
    states: Vec<Box<[u32]>>,
    index: FxMap<Box<[u32]>, u32>,
    /// Edges between the first `DENSE` states (and start, conversion,
    /// null) in a flat matrix: the common case costs an index, not a hash.
    dense: Vec<u64>,
    /// Other edges: `from << 32 | to` → weight.
    edges: FxMap<u64, u64>,
    /// Single-channel windows by channel id: every state of an order-1
    /// chain, and short paths of higher orders, skip the hash map.
    single: Vec<u32>,
    /// Per last state: conversions and value of the rows ending there.
    ends: FxMap<u32, (u64, ExactSum)>,
    seq: Vec<u32>,
}

impl MarkovCounts {
    pub(crate) fn new(order: usize) -> Self {
        Self {
            order,
            states: Vec::new(),
            index: FxMap::default(),
            dense: Vec::new(),
            edges: FxMap::default(),
            single: Vec::new(),
            ends: FxMap::default(),
            seq: Vec::new(),
        }
    }

    fn bump(&mut self, from: u32, to: u32, w: u64) {
        match dense_slot(from, to) {
            Some(i) => {
                if self.dense.is_empty() {
                    self.dense = vec![0; (DENSE + 1) * DENSE_COLS];
                }
                if let Some(x) = self.dense.get_mut(i) {
                    *x = x.saturating_add(w);
                }
            }
            None => {
                let x = self.edges.entry(edge(from, to)).or_insert(0);
                *x = x.saturating_add(w);
            }
        }
    }

    /// Every edge with its weight.
    fn all_edges(&self) -> Vec<((u32, u32), u64)> {
        let dense = self
            .dense
            .iter()
            .enumerate()
            .filter(|&(_, &w)| w > 0)
            .map(|(i, &w)| (from_slot(i), w));
        let sparse = self.edges.iter().map(|(&e, &w)| (split(e), w));
        dense.chain(sparse).collect()
    }

    fn intern(&mut self, window: &[u32]) -> u32 {
        if let [c] = window
            && let Some(&id) = self.single.get(*c as usize)
            && id != u32::MAX
        {
            return id;
        }
        let id = match self.index.get(window) {
            Some(&id) => id,
            None => {
                let id = self.states.len() as u32;
                self.states.push(window.into());
                self.index.insert(window.into(), id);
                id
            }
        };
        if let [c] = window {
            let c = *c as usize;
            if self.single.len() <= c {
                self.single.resize(c + 1, u32::MAX);
            }
            if let Some(s) = self.single.get_mut(c) {
                *s = id;
            }
        }
        id
    }

    pub(crate) fn add(
        &mut self,
        path: &[u32],
        conversions: u64,
        nulls: u64,
        value: Option<Decimal>,
    ) {
        let mut seq = std::mem::take(&mut self.seq);
        seq.clear();
        for w in state_windows(path, self.order) {
            let s = self.intern(w);
            // Consecutive identical states collapse.
            if seq.last() != Some(&s) {
                seq.push(s);
            }
        }
        let weight = conversions.saturating_add(nulls);
        let mut from = START;
        for &s in &seq {
            self.bump(from, s, weight);
            from = s;
        }
        if conversions > 0 {
            self.bump(from, CONV, conversions);
            let e = self.ends.entry(from).or_default();
            e.0 = e.0.saturating_add(conversions);
            if let Some(v) = value {
                e.1.add(v);
            }
        }
        if nulls > 0 {
            self.bump(from, NULL, nulls);
        }
        self.seq = seq;
    }

    /// The counts in a portable form: state windows by channel id, every
    /// edge and end, sorted (so equal counts serialize equally).
    pub(crate) fn to_data(&self) -> MarkovData {
        let mut edges: Vec<(u32, u32, u64)> = self
            .all_edges()
            .into_iter()
            .map(|((a, b), w)| (a, b, w))
            .collect();
        edges.sort_unstable();
        let mut ends: Vec<(u32, u64, ExactSum)> =
            self.ends.iter().map(|(&s, &(c, v))| (s, c, v)).collect();
        ends.sort_unstable_by_key(|e| e.0);
        MarkovData {
            order: self.order,
            states: self.states.iter().map(|w| w.to_vec()).collect(),
            edges,
            ends,
        }
    }

    /// Counts from their portable form, checked against `channels` (the
    /// number of channel ids).
    pub(crate) fn from_data(d: MarkovData, channels: usize) -> Result<Self, String> {
        let mut m = Self::new(d.order);
        for (i, w) in d.states.iter().enumerate() {
            if w.is_empty() || w.len() > d.order || w.iter().any(|&c| c as usize >= channels) {
                return Err(format!(
                    "markov state {i} is not a window of known channels"
                ));
            }
            if m.intern(w) as usize != i {
                return Err(format!("markov state {i} repeats an earlier one"));
            }
        }
        let n = d.states.len() as u32;
        let state = |s: u32| s < n || s >= NULL;
        for (a, b, w) in d.edges {
            if !state(a) || !state(b) || a == CONV || a == NULL || b == START {
                return Err(format!("markov edge {a} -> {b} names no state"));
            }
            m.bump(a, b, w);
        }
        for (s, c, v) in d.ends {
            if s >= n {
                return Err(format!("markov end state {s} names no state"));
            }
            m.ends.insert(s, (c, v));
        }
        Ok(m)
    }

    pub(crate) fn merge(&mut self, other: &MarkovCounts, remap: &[u32]) {
        let map_state = |this: &mut Self, s: u32| -> u32 {
            if s >= NULL {
                return s;
            }
            let window: Vec<u32> = other
                .states
                .get(s as usize)
                .map(|w| {
                    w.iter()
                        .map(|&c| remap.get(c as usize).copied().unwrap_or(c))
                        .collect()
                })
                .unwrap_or_default();
            this.intern(&window)
        };
        // Intern in the other's first-appearance order so that merging
        // partitions in input order numbers states as a single pass would.
        let ids: Vec<u32> = (0..other.states.len() as u32)
            .map(|s| map_state(self, s))
            .collect();
        let get = |s: u32| {
            if s >= NULL {
                s
            } else {
                ids.get(s as usize).copied().unwrap_or(s)
            }
        };
        for ((a, b), w) in other.all_edges() {
            self.bump(get(a), get(b), w);
        }
        for (&s, &(c, v)) in &other.ends {
            let e = self.ends.entry(get(s)).or_default();
            e.0 = e.0.saturating_add(c);
            e.1.add_sum(v);
        }
    }

    pub(crate) fn fit(
        &self,
        channels: &Channels,
        limits: &Limits,
    ) -> Result<MarkovModel, AttributionError> {
        if self.states.len() > limits.markov_states {
            return Err(AttributionError::LimitExceeded {
                limit: Limit::MarkovStates,
                found: self.states.len() as u64,
                max: limits.markov_states as u64,
            });
        }
        let total_conv: u64 = self.ends.values().fold(0u64, |a, e| a.saturating_add(e.0));
        if total_conv == 0 {
            return Err(AttributionError::Data {
                problem: "no path converted: the Markov model needs at least one conversion".into(),
            });
        }
        let (order, pos) = self.canonical_order(channels);
        let n = order.len();
        let flow = self.flow(&order, &pos);
        let mut total = ExactSum::default();
        for e in self.ends.values() {
            total.add_sum(e.1);
        }
        let total_value = super::exact_total(total)?;
        let windows: Vec<Vec<u32>> = order
            .iter()
            .map(|&s| {
                self.states
                    .get(s as usize)
                    .map(|w| w.to_vec())
                    .unwrap_or_default()
            })
            .collect();
        // Sweeps follow the chain's flow: states by their distance from
        // the start (ties by name), so a chain that mostly moves forward,
        // as paths do, converges in a few sweeps whatever its names.
        let sweep = flow_order(n, &flow.p0, &flow.trans);
        let chain = Chain {
            n,
            p0: &flow.p0,
            trans: &flow.trans,
            sweep: &sweep,
            max_sweeps: limits.solver_sweeps,
            dense: std::cell::Cell::new(false),
            work: std::cell::Cell::new(0),
            max_work: limits.solver_work,
        };
        let (removal, value_removal, p_conv) =
            removal_effects(&chain, &flow, &windows, channels.len())?;
        Ok(MarkovModel {
            order: self.order,
            channels: channels.names.clone(),
            removal,
            value_removal,
            conversion_probability: p_conv,
            total_conversions: total_conv,
            total_value,
            transitions: flow.edges(&windows, channels),
        })
    }

    /// The states in canonical order (by channel names), so the
    /// arithmetic does not depend on the order the input arrived in, and
    /// each state's position in it.
    fn canonical_order(&self, channels: &Channels) -> (Vec<u32>, Vec<usize>) {
        let name_key = |s: u32| -> Vec<&str> {
            self.states
                .get(s as usize)
                .map(|w| w.iter().map(|&c| channels.name(c)).collect())
                .unwrap_or_default()
        };
        let mut order: Vec<u32> =
            (0..u32::try_from(self.states.len()).unwrap_or(u32::MAX)).collect();
        order.sort_by_cached_key(|&s| name_key(s));
        let mut pos = vec![0usize; self.states.len()];
        for (i, &s) in order.iter().enumerate() {
            if let Some(p) = pos.get_mut(s as usize) {
                *p = i;
            }
        }
        (order, pos)
    }

    /// The chain's probabilities in canonical order: from the start,
    /// between states, into conversion and null, and each state's mean
    /// conversion value.
    fn flow(&self, order: &[u32], pos: &[usize]) -> Flow {
        let n = order.len();
        let at = |s: u32| pos.get(s as usize).copied().unwrap_or(0);
        let mut edges: Vec<(usize, usize, u64)> = Vec::new(); // transient → transient
        let (mut start, mut to_conv, mut to_null, mut out) =
            (vec![0u64; n], vec![0u64; n], vec![0u64; n], vec![0u64; n]);
        let mut sorted = self.all_edges();
        sorted.sort_by_key(|&((a, b), _)| {
            let key = |s: u32| {
                if s >= NULL {
                    (1, s as usize)
                } else {
                    (0, at(s))
                }
            };
            (key(a), key(b))
        });
        let add = |v: &mut Vec<u64>, i: usize, w: u64| {
            if let Some(x) = v.get_mut(i) {
                *x = x.saturating_add(w);
            }
        };
        for ((a, b), w) in sorted {
            match (a, b) {
                (START, t) if t < NULL => add(&mut start, at(t), w),
                (s, CONV) if s < NULL => {
                    add(&mut to_conv, at(s), w);
                    add(&mut out, at(s), w);
                }
                (s, NULL) if s < NULL => {
                    add(&mut to_null, at(s), w);
                    add(&mut out, at(s), w);
                }
                (s, t) if s < NULL && t < NULL => {
                    edges.push((at(s), at(t), w));
                    add(&mut out, at(s), w);
                }
                _ => {}
            }
        }
        let start_total: u64 = start.iter().fold(0u64, |a, &w| a.saturating_add(w));
        let prob = |w: u64, s: usize| w as f64 / out.get(s).copied().unwrap_or(1).max(1) as f64;
        Flow {
            p0: start
                .iter()
                .map(|&w| w as f64 / start_total.max(1) as f64)
                .collect(),
            trans: edges.iter().map(|&(s, t, w)| (s, t, prob(w, s))).collect(),
            r: to_conv
                .iter()
                .enumerate()
                .map(|(s, &w)| prob(w, s))
                .collect(),
            null: to_null
                .iter()
                .enumerate()
                .map(|(s, &w)| prob(w, s))
                .collect(),
            mu: order
                .iter()
                .map(|s| {
                    self.ends
                        .get(s)
                        .filter(|e| e.0 > 0)
                        .map_or(0.0, |e| e.1.to_f64() / e.0 as f64)
                })
                .collect(),
        }
    }
}

/// A fitted chain's probabilities, states in canonical order.
struct Flow {
    /// From the start.
    p0: Vec<f64>,
    /// Between transient states.
    trans: Vec<(usize, usize, f64)>,
    /// Into conversion.
    r: Vec<f64>,
    /// Into null.
    null: Vec<f64>,
    /// Mean conversion value of the paths ending at each state.
    mu: Vec<f64>,
}

impl Flow {
    /// The chain's edges as the model reports them.
    fn edges(&self, windows: &[Vec<u32>], channels: &Channels) -> Vec<MarkovEdge> {
        let state = |i: usize| {
            MarkovState::Channels(
                windows
                    .get(i)
                    .map(|w| w.iter().map(|&c| channels.name(c).to_owned()).collect())
                    .unwrap_or_default(),
            )
        };
        let mut transitions = Vec::with_capacity(self.trans.len() + 2 * self.r.len());
        for (s, &p) in self.p0.iter().enumerate() {
            if p > 0.0 {
                transitions.push(MarkovEdge {
                    from: MarkovState::Start,
                    to: state(s),
                    probability: p,
                });
            }
        }
        for &(s, t, p) in &self.trans {
            transitions.push(MarkovEdge {
                from: state(s),
                to: state(t),
                probability: p,
            });
        }
        for (s, (&rs, &null)) in self.r.iter().zip(&self.null).enumerate() {
            if rs > 0.0 {
                transitions.push(MarkovEdge {
                    from: state(s),
                    to: MarkovState::Conversion,
                    probability: rs,
                });
            }
            if null > 0.0 {
                transitions.push(MarkovEdge {
                    from: state(s),
                    to: MarkovState::Null,
                    probability: null,
                });
            }
        }
        transitions
    }
}

/// Each channel's removal effect on conversions and on value (the chain
/// solved again without the states that hold it), and the conversion
/// probability of the whole chain.
fn removal_effects(
    chain: &Chain<'_>,
    flow: &Flow,
    windows: &[Vec<u32>],
    channels: usize,
) -> Result<(Vec<f64>, Vec<f64>, f64), AttributionError> {
    let n = chain.n;
    let (r, mu) = (&flow.r, &flow.mu);
    let visits = solve_visits(chain, &vec![false; n])?;
    let conv = |v: &[f64], live: &dyn Fn(usize) -> bool| -> (f64, f64) {
        (0..n).filter(|&s| live(s)).fold((0.0, 0.0), |(pc, ev), s| {
            let through = v[s] * r[s];
            (pc + through, ev + through * mu[s])
        })
    };
    let (p_conv, e_value) = conv(&visits, &|_| true);
    let mut removal = vec![0.0; channels];
    let mut value_removal = vec![0.0; channels];
    for c in 0..u32::try_from(channels).unwrap_or(u32::MAX) {
        let removed: Vec<bool> = windows.iter().map(|w| w.contains(&c)).collect();
        if !removed.iter().any(|x| *x) {
            continue;
        }
        let v = solve_visits(chain, &removed)?;
        let (pc, ev) = conv(&v, &|s| !removed[s]);
        let effect = |part: f64, whole: f64| {
            if whole > 0.0 {
                (1.0 - part / whole).max(0.0)
            } else {
                0.0
            }
        };
        removal[c as usize] = effect(pc, p_conv);
        value_removal[c as usize] = effect(ev, e_value);
    }
    Ok((removal, value_removal, p_conv))
}

/// A transient chain to solve: start probabilities, transitions, the order
/// sparse sweeps visit states in, and the sweep bound.
struct Chain<'a> {
    n: usize,
    p0: &'a [f64],
    trans: &'a [(usize, usize, f64)],
    sweep: &'a [usize],
    max_sweeps: usize,
    /// Set once sweeps proved too slow: the chain's other systems are
    /// solved directly at once.
    dense: std::cell::Cell<bool>,
    /// Arithmetic steps spent so far, and the bound.
    work: std::cell::Cell<u64>,
    max_work: u64,
}

impl Chain<'_> {
    /// Spends `steps` of the work bound.
    fn charge(&self, steps: u64) -> Result<(), AttributionError> {
        let work = self.work.get().saturating_add(steps);
        self.work.set(work);
        if work > self.max_work {
            return Err(AttributionError::LimitExceeded {
                limit: Limit::SolverWork,
                found: work,
                max: self.max_work,
            });
        }
        Ok(())
    }
}

/// The states ordered by their distance (in steps) from the start, ties
/// by position (the canonical, name order); unreachable states last.
fn flow_order(n: usize, p0: &[f64], trans: &[(usize, usize, f64)]) -> Vec<usize> {
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(s, t, _) in trans {
        if let Some(out) = next.get_mut(s) {
            out.push(t);
        }
    }
    let mut depth = vec![usize::MAX; n];
    let mut queue = std::collections::VecDeque::new();
    for (s, &p) in p0.iter().enumerate() {
        if p > 0.0
            && let Some(d) = depth.get_mut(s)
        {
            *d = 0;
            queue.push_back(s);
        }
    }
    while let Some(s) = queue.pop_front() {
        let d = depth.get(s).copied().unwrap_or(usize::MAX);
        for &t in next.get(s).map_or(&[][..], Vec::as_slice) {
            if let Some(dt) = depth.get_mut(t)
                && *dt == usize::MAX
            {
                *dt = d + 1;
                queue.push_back(t);
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&s| (depth.get(s).copied().unwrap_or(usize::MAX), s));
    order
}

/// Expected visits to each transient state from the start: the solution of
/// `v = p0 + Qᵀ v` on the states not removed (a removed state absorbs into
/// null, so its visits are zero and nothing flows on from it).
fn solve_visits(chain: &Chain<'_>, removed: &[bool]) -> Result<Vec<f64>, AttributionError> {
    let n = chain.n;
    if n <= DENSE_MAX || (n <= DENSE_FALLBACK_MAX && chain.dense.get()) {
        return solve_dense(chain, removed);
    }
    // A chain that could fall back to a direct solve gets a bounded number
    // of sweeps first; one that cannot, the whole sweep limit.
    let sweeps = if n <= DENSE_FALLBACK_MAX {
        chain.max_sweeps.min(10 * n + 1_000)
    } else {
        chain.max_sweeps
    };
    match solve_sparse(chain, removed, sweeps)? {
        Some(v) => Ok(v),
        None if n <= DENSE_FALLBACK_MAX => {
            // Slow to converge (a state almost never leaves): solve this
            // and the chain's other systems directly.
            chain.dense.set(true);
            solve_dense(chain, removed)
        }
        None => Err(AttributionError::LimitExceeded {
            limit: Limit::SolverSweeps,
            found: sweeps as u64 + 1,
            max: chain.max_sweeps as u64,
        }),
    }
}

/// `v = p0 + Qᵀ v` on the live states by Gaussian elimination with partial
/// pivoting on the dense `I − Qᵀ`.
fn solve_dense(chain: &Chain<'_>, removed: &[bool]) -> Result<Vec<f64>, AttributionError> {
    let (n, p0, trans) = (chain.n, chain.p0, chain.trans);
    let live = |s: usize| !removed.get(s).copied().unwrap_or(true);
    // A = I − Qᵀ on the live states, dense; Gaussian elimination with
    // partial pivoting.
    let idx: Vec<usize> = (0..n).filter(|&s| live(s)).collect();
    let m = idx.len();
    let m3 = (m as u64).saturating_pow(3);
    chain.charge(m3 / 3 + 1)?;
    let mut local = vec![usize::MAX; n];
    for (i, &s) in idx.iter().enumerate() {
        local[s] = i;
    }
    let mut a = vec![0.0f64; m * m];
    let mut b: Vec<f64> = idx.iter().map(|&s| p0[s]).collect();
    for i in 0..m {
        a[i * m + i] = 1.0;
    }
    for &(s, t, p) in trans {
        if live(s) && live(t) {
            let (row, col) = (local[t], local[s]);
            a[row * m + col] -= p;
        }
    }
    for k in 0..m {
        let piv = (k..m)
            .max_by(|&x, &y| a[x * m + k].abs().total_cmp(&a[y * m + k].abs()))
            .unwrap_or(k);
        if a[piv * m + k].abs() < SINGULAR {
            return Err(AttributionError::Data {
                problem: "the Markov chain has a state that never reaches conversion or null"
                    .into(),
            });
        }
        if piv != k {
            for j in 0..m {
                a.swap(k * m + j, piv * m + j);
            }
            b.swap(k, piv);
        }
        let d = a[k * m + k];
        for i in k + 1..m {
            let f = a[i * m + k] / d;
            if f != 0.0 {
                for j in k..m {
                    a[i * m + j] -= f * a[k * m + j];
                }
                b[i] -= f * b[k];
            }
        }
    }
    let mut x = vec![0.0f64; m];
    for i in (0..m).rev() {
        let mut s = b[i];
        for j in i + 1..m {
            s -= a[i * m + j] * x[j];
        }
        x[i] = s / a[i * m + i];
    }
    let mut v = vec![0.0; n];
    for (i, &s) in idx.iter().enumerate() {
        v[s] = x[i];
    }
    Ok(v)
}

/// `v = p0 + Qᵀ v` by Gauss–Seidel sweeps in flow order, until the largest
/// change is below `TOLERANCE` relative to the solution; `None` when
/// `sweeps` are not enough.
fn solve_sparse(
    chain: &Chain<'_>,
    removed: &[bool],
    sweeps: usize,
) -> Result<Option<Vec<f64>>, AttributionError> {
    let (n, p0, trans) = (chain.n, chain.p0, chain.trans);
    let live = |s: usize| !removed.get(s).copied().unwrap_or(true);
    // Sparse: incoming edges per state, Gauss–Seidel sweeps until the
    // largest change is below `TOLERANCE` relative to the solution.
    let mut incoming: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
    for &(s, t, p) in trans {
        if live(s) && live(t) {
            incoming[t].push((s, p));
        }
    }
    let mut v: Vec<f64> = (0..n).map(|s| if live(s) { p0[s] } else { 0.0 }).collect();
    let per_sweep = incoming.iter().map(|e| e.len() as u64 + 1).sum::<u64>();
    for _ in 0..sweeps {
        chain.charge(per_sweep)?;
        let mut change = 0.0f64;
        let mut size = 0.0f64;
        for &t in chain.sweep {
            if !live(t) {
                continue;
            }
            let new = p0[t] + incoming[t].iter().map(|&(s, p)| v[s] * p).sum::<f64>();
            change = change.max((new - v[t]).abs());
            size = size.max(new.abs());
            v[t] = new;
        }
        if change <= TOLERANCE * size.max(SINGULAR) {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// A state of the fitted chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkovState {
    /// Where every path starts.
    Start,
    /// Absorbing: the path converted.
    Conversion,
    /// Absorbing: the path ended without converting.
    Null,
    /// A window of `order` consecutive channels (fewer for shorter paths).
    Channels(Vec<String>),
}

/// The windows of `order` consecutive touches a path passes through (the
/// whole path when it is shorter than `order`), before consecutive
/// identical states collapse.
fn state_windows<T>(path: &[T], order: usize) -> impl Iterator<Item = &[T]> {
    let whole = (path.len() <= order).then_some(path);
    let windows = (path.len() > order).then(|| path.windows(order.max(1)));
    whole.into_iter().chain(windows.into_iter().flatten())
}

impl MarkovState {
    /// The states one path walks through in a chain of `order`, from
    /// [`Start`](Self::Start) to [`Conversion`](Self::Conversion) when it
    /// converted or [`Null`](Self::Null) when not: the transitions a
    /// [`PathTally`](super::PathTally) counts for it (windows of `order`
    /// touches, consecutive identical states collapsed). An empty path
    /// walks through no states; an order of 0 is read as 1.
    ///
    /// ```
    /// use leadflow::attribution::MarkovState;
    /// let walk = MarkovState::walk(&["email", "email", "search"], 1, true);
    /// let names: Vec<String> = walk.iter().map(|s| s.to_string()).collect();
    /// assert_eq!(names, ["(start)", "email", "search", "(conversion)"]);
    /// ```
    pub fn walk<S: AsRef<str>>(path: &[S], order: usize, converted: bool) -> Vec<MarkovState> {
        if path.is_empty() {
            return Vec::new();
        }
        let mut walk = vec![MarkovState::Start];
        for w in state_windows(path, order) {
            let state = MarkovState::Channels(w.iter().map(|c| c.as_ref().to_owned()).collect());
            if walk.last() != Some(&state) {
                walk.push(state);
            }
        }
        walk.push(if converted {
            MarkovState::Conversion
        } else {
            MarkovState::Null
        });
        walk
    }
}

impl std::fmt::Display for MarkovState {
    /// `(start)`, `(conversion)`, `(null)`, or the window's channels joined
    /// by ` > `, as ChannelAttribution names them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Start => f.write_str("(start)"),
            Self::Conversion => f.write_str("(conversion)"),
            Self::Null => f.write_str("(null)"),
            Self::Channels(c) => f.write_str(&c.join(" > ")),
        }
    }
}

/// One transition probability of the fitted chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MarkovEdge {
    /// From.
    pub from: MarkovState,
    /// To.
    pub to: MarkovState,
    /// The probability.
    pub probability: f64,
}

/// An exact Markov-chain attribution model of order k, fitted on a path
/// table by a [`PathTally`](super::PathTally).
///
/// Semantics follow ChannelAttribution's `markov_model` so that users can
/// migrate: states are sliding windows of k consecutive touches (a path
/// shorter than k is one state); consecutive identical states collapse;
/// edges `(start) → s1 → … → sn` weigh conversions + nulls, `sn →
/// (conversion)` weighs conversions, `sn → (null)` weighs nulls; removing a
/// channel sends every state that contains it to `(null)`; the removal effect
/// is `RE = 1 − P(conv | removed) / P(conv)` and a channel's credit is
/// `RE / ΣRE × total conversions`. For value, each last state carries its
/// mean value per conversion and the value removal effect compares expected
/// values the same way.
///
/// Unlike ChannelAttribution, which simulates random walks, the chain is
/// solved exactly (a linear solve on the absorbing chain): the same input
/// always gives the same credits, to floating-point precision.
///
/// Per journey (through [`AttributionModel`]), a journey's conversion is
/// split over its channels in proportion to their removal effects, equally
/// over a channel's touches; a journey whose channels all have a zero effect
/// is split linearly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkovModel {
    order: usize,
    channels: Vec<String>,
    removal: Vec<f64>,
    value_removal: Vec<f64>,
    conversion_probability: f64,
    total_conversions: u64,
    total_value: Decimal,
    transitions: Vec<MarkovEdge>,
}

impl MarkovModel {
    /// The chain's order.
    pub fn order(&self) -> usize {
        self.order
    }

    /// The probability that a path from the start converts.
    pub fn conversion_probability(&self) -> f64 {
        self.conversion_probability
    }

    /// Each channel's removal effect (conversions), in first-appearance
    /// order.
    pub fn removal_effects(&self) -> Vec<(String, f64)> {
        self.channels
            .iter()
            .cloned()
            .zip(self.removal.iter().copied())
            .collect()
    }

    /// Each channel's removal effect on expected value.
    pub fn value_removal_effects(&self) -> Vec<(String, f64)> {
        self.channels
            .iter()
            .cloned()
            .zip(self.value_removal.iter().copied())
            .collect()
    }

    /// The fitted transition probabilities.
    pub fn transitions(&self) -> &[MarkovEdge] {
        &self.transitions
    }

    /// (conversions, value) per channel id.
    pub(crate) fn credits_by_id(&self, n: usize) -> Vec<(f64, f64)> {
        // Summed in channel-name order: the result does not depend on the
        // order channels arrived in (or partitions were merged in).
        let mut by_name: Vec<usize> = (0..self.removal.len()).collect();
        by_name.sort_by(|&a, &b| self.channels.get(a).cmp(&self.channels.get(b)));
        let sum: f64 = by_name
            .iter()
            .map(|&i| self.removal.get(i).copied().unwrap_or(0.0))
            .sum();
        let vsum: f64 = by_name
            .iter()
            .map(|&i| self.value_removal.get(i).copied().unwrap_or(0.0))
            .sum();
        let total_value = self.total_value.to_f64().unwrap_or(0.0);
        (0..n)
            .map(|c| {
                let re = self.removal.get(c).copied().unwrap_or(0.0);
                let vre = self.value_removal.get(c).copied().unwrap_or(0.0);
                (
                    if sum > 0.0 {
                        re / sum * self.total_conversions as f64
                    } else {
                        0.0
                    },
                    if vsum > 0.0 {
                        vre / vsum * total_value
                    } else {
                        0.0
                    },
                )
            })
            .collect()
    }
}

/// Splits a journey over its channels by per-channel scores, equally over
/// each channel's touches; linear when every score is zero.
pub(crate) fn weights_by_channel(journey: &Journey, score: impl Fn(&str) -> f64) -> Vec<f64> {
    let n = journey.touches.len();
    let mut counts: crate::hash::TextMap<&str, usize> = Default::default();
    for t in &journey.touches {
        *counts.entry(t.channel.as_str()).or_insert(0) += 1;
    }
    let w: Vec<f64> = journey
        .touches
        .iter()
        .map(|t| {
            let k = counts.get(t.channel.as_str()).copied().unwrap_or(1).max(1);
            score(&t.channel).max(0.0) / k as f64
        })
        .collect();
    if w.iter().sum::<f64>() > 0.0 {
        w
    } else {
        vec![1.0; n]
    }
}

impl AttributionModel for MarkovModel {
    fn name(&self) -> &str {
        "markov"
    }
    fn weights(&self, journey: &Journey) -> Vec<f64> {
        weights_by_channel(journey, |c| {
            self.channels
                .iter()
                .position(|x| x == c)
                .and_then(|i| self.removal.get(i).copied())
                .unwrap_or(0.0)
        })
    }
}
