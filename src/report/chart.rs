//! The chart of a run over time as inline SVG drawn from the samples: items per second with
//! the pace the binding wall allows (the ideal line), requests in flight, limit refusals, and
//! operating time in use against the budget. Four panels on one time axis.
//!
//! Owns: the geometry. Colours are CSS classes (the page's light and dark schemes colour
//! them); no script, no font, nothing fetched. Must not read anything.

use maud::{Markup, html};

use super::model::Series;

/// Panel size in SVG units (the SVG scales to the page width).
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 96.0;
/// Room for the axis labels on the left and the time labels below.
const LEFT: f64 = 52.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 18.0;
const BOTTOM: f64 = 16.0;
/// At most this many points per line: longer runs are thinned (every n-th sample), so a
/// ten-hour run draws as fast as a minute.
const MAX_POINTS: usize = 600;

/// One panel's line: `(seconds, value)` points.
struct Line {
    points: Vec<(f64, f64)>,
    class: &'static str,
}

/// The four panels, or nothing when there are fewer than two samples.
pub fn chart(s: &Series) -> Option<Markup> {
    if s.samples.len() < 2 {
        return None;
    }
    let step = s.samples.len().div_ceil(MAX_POINTS).max(1);
    let picked: Vec<_> = s
        .samples
        .iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0 || *i == s.samples.len() - 1)
        .map(|(_, x)| *x)
        .collect();
    let t_end = (picked.last().map_or(0.0, |x| x.at_ms as f64 / 1000.0)).max(s.elapsed_secs).max(1.0);
    // Items per second between two kept samples.
    let mut rate = Vec::with_capacity(picked.len());
    for w in picked.windows(2) {
        let dt = ((w[1].at_ms - w[0].at_ms) as f64 / 1000.0).max(1e-3);
        let t = w[1].at_ms as f64 / 1000.0;
        rate.push((t, w[1].items.saturating_sub(w[0].items) as f64 / dt));
    }
    let items_total = picked.last().map_or(0, |x| x.items) as f64;
    // The pace that finishes every item at the binding wall's ideal.
    let ideal_pace = (s.ideal_secs > 0.0).then(|| items_total / s.ideal_secs);
    let secs = |x: &crate::journal::Sample| x.at_ms as f64 / 1000.0;
    let wall = if s.binding_wall == "operating" { "the operating budget" } else { "the rate limit" };
    let panels = [
        panel(
            "items per second",
            &[Line { points: rate, class: "l-items" }],
            ideal_pace.map(|p| (p, format!("ideal pace {p:.1}/s ({wall} binds)"))),
            t_end,
        ),
        panel(
            "requests in flight",
            &[Line {
                points: picked.iter().map(|x| (secs(x), x.in_flight as f64)).collect(),
                class: "l-flight",
            }],
            None,
            t_end,
        ),
        panel(
            "limit refusals (so far)",
            &[Line {
                points: picked.iter().map(|x| (secs(x), x.refusals as f64)).collect(),
                class: "l-refused",
            }],
            None,
            t_end,
        ),
        panel(
            "operating time in use (s)",
            &[Line { points: picked.iter().map(|x| (secs(x), x.operating_used)).collect(), class: "l-oper" }],
            (s.budget_secs > 0.0).then(|| {
                (s.budget_secs, format!("budget {:.0}s per {:.0}s window", s.budget_secs, s.window_secs))
            }),
            t_end,
        ),
    ];
    Some(html! {
        div.chart {
            @for p in &panels { (p) }
        }
    })
}

/// One panel: its lines, an optional dashed reference line (value, label), a y axis from 0
/// and the time axis.
fn panel(title: &str, lines: &[Line], reference: Option<(f64, String)>, t_end: f64) -> Markup {
    let max_value = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .chain(reference.as_ref().map(|r| r.0))
        .fold(0.0_f64, f64::max);
    let y_top = nice_ceiling(max_value.max(1.0));
    let x = |t: f64| LEFT + (t / t_end).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT);
    let y = |v: f64| TOP + (1.0 - (v / y_top).clamp(0.0, 1.0)) * (HEIGHT - TOP - BOTTOM);
    let base = y(0.0);
    let view = format!("0 0 {WIDTH} {HEIGHT}");
    html! {
        svg.panel viewBox=(view) role="img" aria-label=(title) preserveAspectRatio="none" {
            text.t x=(LEFT) y="12" { (title) }
            line.axis x1=(fmt(LEFT)) y1=(fmt(base)) x2=(fmt(WIDTH - RIGHT)) y2=(fmt(base)) {}
            line.axis x1=(fmt(LEFT)) y1=(fmt(TOP)) x2=(fmt(LEFT)) y2=(fmt(base)) {}
            text.lab x=(fmt(LEFT - 4.0)) y=(fmt(TOP + 4.0)) text-anchor="end" { (short(y_top)) }
            text.lab x=(fmt(LEFT - 4.0)) y=(fmt(base)) text-anchor="end" { "0" }
            text.lab x=(fmt(LEFT)) y=(fmt(HEIGHT - 3.0)) { "0 s" }
            text.lab x=(fmt(WIDTH - RIGHT)) y=(fmt(HEIGHT - 3.0)) text-anchor="end" { (format!("{t_end:.0} s")) }
            @if let Some((v, label)) = &reference {
                line.ideal x1=(fmt(LEFT)) y1=(fmt(y(*v))) x2=(fmt(WIDTH - RIGHT)) y2=(fmt(y(*v))) {}
                text.lab.ideal-lab x=(fmt(WIDTH - RIGHT)) y=(fmt((y(*v) - 3.0).max(TOP - 4.0))) text-anchor="end" { (label) }
            }
            @for l in lines {
                @let pts: Vec<String> = l.points.iter().map(|(t, v)| format!("{},{}", fmt(x(*t)), fmt(y(*v)))).collect();
                polyline class=(l.class) points=(pts.join(" ")) {}
            }
        }
    }
}

/// A round number at or above `v` for the top of an axis (1, 2, 5 × 10^n).
fn nice_ceiling(v: f64) -> f64 {
    let exp = v.log10().floor();
    let base = 10f64.powf(exp);
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * base).find(|c| *c >= v - 1e-9).unwrap_or(10.0 * base)
}

fn short(v: f64) -> String {
    if v >= 10_000.0 { format!("{:.0}k", v / 1000.0) } else { format!("{v:.0}") }
}

/// One decimal: enough for a 720-unit panel, short in the file.
fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Sample;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(10.0), 10.0);
        assert_eq!(nice_ceiling(480.0), 500.0);
    }

    #[test]
    fn a_long_run_draws_at_most_the_point_limit_and_the_ideal_line() {
        let samples: Vec<Sample> = (0..36_000)
            .map(|i| Sample { at_ms: i * 1000, items: i as u64 * 10, in_flight: 3, ..Sample::default() })
            .collect();
        let s = Series {
            samples,
            budget_secs: 480.0,
            window_secs: 600.0,
            ideal_secs: 30_000.0,
            binding_wall: "rate".into(),
            elapsed_secs: 36_000.0,
        };
        let svg = chart(&s).expect("drawn").into_string();
        let points = svg.split("<polyline").nth(1).expect("a line").matches(',').count();
        assert!(points <= MAX_POINTS + 1, "{points}");
        assert!(svg.contains("ideal pace") && svg.contains("budget 480s"), "{svg}");
        assert!(chart(&Series::default()).is_none());
    }
}
