//! Rendering of finished runs for people and spreadsheets: the long-format time-series CSV, the
//! one-row-per-policy summary CSV, and a self-contained HTML report (inline CSS, inline SVG
//! charts, no scripts, no external resources).
//!
//! Everything here is pure: functions take [`PolicyRun`]s and return `String`s; writing them to
//! disk is the caller's job. The same input gives the same bytes. Non-finite numbers never make
//! a renderer panic: the CSVs leave such fields empty, the HTML table shows a dash and the charts
//! skip the point.

use crate::metrics::{IntervalRecord, PolicyRun, RunSummary};
use std::borrow::Cow;
use std::fmt::{self, Write};

/// Header of [`time_series_csv`].
pub const TIME_SERIES_CSV_HEADER: &str = "policy,time_s,power_w,active_hosts,harvested_w,\
hosts_at_target,migrations,overloaded_hosts,cpu_demand_ratio";

/// Header of [`summary_csv`]: the [`RunSummary`] field names in declaration order.
pub const SUMMARY_CSV_HEADER: &str = "policy,workload,hosts,vms,energy_kwh,migrations,slatah,pdm,\
slav,sla_overall,host_shutdowns,mean_active_hosts,harvested_heat_kwh,harvest_ratio,\
mean_hosts_at_target,simulated_s,wall_s";

/// Line colours of the charts, one per policy in input order, cycling: the Okabe–Ito
/// colour-blind-safe palette, ordered for contrast on white (its yellow is darkened for the same
/// reason). Past the palette's length lines are dashed, so cycled colours stay distinguishable.
pub const PALETTE: [&str; 8] =
    ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#B8A200"];

/// The time series of all runs in long format: [`TIME_SERIES_CSV_HEADER`], then one row per
/// policy per interval, policies in input order.
///
/// Seconds and watts have 3 decimals, `cpu_demand_ratio` 6; a non-finite number is an empty
/// field. Lines end with `\n`; fields are quoted as RFC 4180 says (only when they contain a
/// comma, a double quote or a line break).
pub fn time_series_csv(runs: &[PolicyRun]) -> String {
    let mut out =
        String::with_capacity(64 + runs.iter().map(|r| r.series.len() * 64).sum::<usize>());
    out.push_str(TIME_SERIES_CSV_HEADER);
    out.push('\n');
    for run in runs {
        let policy = csv_field(&run.summary.policy);
        for r in &run.series {
            let IntervalRecord {
                time_s,
                power_w,
                active_hosts,
                harvested_w,
                hosts_at_target,
                migrations,
                overloaded_hosts,
                cpu_demand_ratio,
            } = r;
            writeln!(
                out,
                "{policy},{},{},{active_hosts},{},{hosts_at_target},{migrations},\
                 {overloaded_hosts},{}",
                fixed(*time_s, 3),
                fixed(*power_w, 3),
                fixed(*harvested_w, 3),
                fixed(*cpu_demand_ratio, 6),
            )
            .expect("writing to a String cannot fail");
        }
    }
    out
}

/// One row per run with every [`RunSummary`] field, under [`SUMMARY_CSV_HEADER`].
///
/// Floats are written in Rust's shortest round-trip form (so SLAV's tiny values keep their
/// precision); a non-finite number is an empty field. Lines end with `\n`; text fields are quoted
/// as RFC 4180 says.
pub fn summary_csv(runs: &[PolicyRun]) -> String {
    let mut out = String::new();
    out.push_str(SUMMARY_CSV_HEADER);
    out.push('\n');
    for run in runs {
        let RunSummary {
            policy,
            workload,
            hosts,
            vms,
            energy_kwh,
            migrations,
            slatah,
            pdm,
            slav,
            sla_overall,
            host_shutdowns,
            mean_active_hosts,
            harvested_heat_kwh,
            harvest_ratio,
            mean_hosts_at_target,
            simulated_s,
            wall_s,
            // Per-estimator figures have a table of their own (estimators_csv).
            estimator_errors: _,
        } = &run.summary;
        writeln!(
            out,
            "{},{},{hosts},{vms},{},{migrations},{},{},{},{},{host_shutdowns},{},{},{},{},{},{}",
            csv_field(policy),
            csv_field(workload),
            exact(*energy_kwh),
            exact(*slatah),
            exact(*pdm),
            exact(*slav),
            exact(*sla_overall),
            exact(*mean_active_hosts),
            exact(*harvested_heat_kwh),
            exact(*harvest_ratio),
            exact(*mean_hosts_at_target),
            exact(*simulated_s),
            exact(*wall_s),
        )
        .expect("writing to a String cannot fail");
    }
    out
}

/// A self-contained HTML5 page comparing the runs: the title, the scenario, a summary table and
/// three SVG line charts over hours since the start (data-center power, active hosts, harvested
/// heat rate), one line per policy in [`PALETTE`] colours, each with a legend.
///
/// The page uses inline CSS only: no scripts, fonts, images or links to fetch. `title` and every
/// name from the runs are HTML-escaped. Without runs the page says so and has no charts.
pub fn html_report(title: &str, runs: &[PolicyRun]) -> String {
    let mut out =
        String::with_capacity(16_384 + runs.iter().map(|r| r.series.len() * 40).sum::<usize>());
    write_html(&mut out, title, runs).expect("writing to a String cannot fail");
    out
}

// ---------------------------------------------------------------------------------------------
// CSV helpers

/// `s` as one CSV field: quoted, with quotes doubled, when it contains `,`, `"`, CR or LF.
fn csv_field(s: &str) -> Cow<'_, str> {
    if s.contains([',', '"', '\r', '\n']) {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

/// `v` with `decimals` decimals, no negative zero; empty when not finite.
fn fixed(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let s = format!("{v:.decimals$}");
    strip_negative_zero(s)
}

/// `v` in shortest round-trip form, no negative zero; empty when not finite.
fn exact(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    if v == 0.0 {
        return "0".to_owned();
    }
    format!("{v}")
}

/// `-0.000` → `0.000`; other strings unchanged.
fn strip_negative_zero(s: String) -> String {
    match s.strip_prefix('-') {
        Some(rest) if rest.bytes().all(|b| b == b'0' || b == b'.') => rest.to_owned(),
        _ => s,
    }
}

// ---------------------------------------------------------------------------------------------
// HTML

/// Inline style sheet of the report.
const CSS: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body {
  margin: 0; background: #f4f5f7; color: #1f2328;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 15px; line-height: 1.45;
}
main { max-width: 1120px; margin: 0 auto; padding: 32px 24px 48px; }
header { margin-bottom: 24px; }
h1 { font-size: 26px; font-weight: 650; margin: 0 0 6px; letter-spacing: -0.01em; }
h2 { font-size: 17px; font-weight: 600; margin: 0; }
.meta { color: #57606a; margin: 0; }
.card {
  background: #fff; border: 1px solid #d8dee4; border-radius: 8px;
  padding: 18px 20px 14px; margin-bottom: 20px;
}
.card-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 12px;
  margin-bottom: 10px; }
.sub { color: #57606a; font-size: 13px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums;
  font-size: 14px; }
th, td { padding: 7px 8px; border-bottom: 1px solid #eaeef2; }
td { white-space: nowrap; }
th { text-align: right; font-weight: 600; color: #424a53; vertical-align: bottom;
  border-bottom: 2px solid #d0d7de; line-height: 1.25; }
th:first-child, td:first-child { text-align: left; }
td { text-align: right; }
tbody tr:last-child td { border-bottom: none; }
tbody tr:hover { background: #f6f8fa; }
.unit { display: block; font-weight: 400; color: #6e7781; font-size: 12px; }
.swatch { display: inline-block; width: 22px; height: 0; border-top: 3px solid;
  vertical-align: middle; margin-right: 8px; }
.legend { list-style: none; margin: 0 0 6px; padding: 0; display: flex; flex-wrap: wrap;
  gap: 4px 18px; font-size: 13px; }
.legend li { white-space: nowrap; }
.policy { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono",
  monospace; font-size: 13px; }
svg.chart { display: block; width: 100%; height: auto; }
svg.chart text { font-family: inherit; fill: #57606a; font-size: 12px; }
svg.chart .axis-title { fill: #424a53; font-size: 12.5px; }
svg.chart .empty { font-size: 14px; fill: #8c959f; }
dl.notes { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0;
  font-size: 13.5px; color: #424a53; }
dl.notes dt { font-weight: 600; }
dl.notes dd { margin: 0; }
footer { color: #8c959f; font-size: 12.5px; margin-top: 8px; }
@media (max-width: 720px) {
  main { padding: 20px 10px 32px; }
  .card { padding: 14px 12px 10px; }
}
@media print {
  body { background: #fff; }
  .card { border: none; padding: 0; break-inside: avoid; }
}
"#;

fn write_html(out: &mut String, title: &str, runs: &[PolicyRun]) -> fmt::Result {
    let title = escape_html(title);
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"hearth sim\">\n\
         <title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n\
         <header>\n<h1>{title}</h1>\n"
    )?;
    write_scenario(out, runs)?;
    out.push_str("</header>\n");

    if runs.is_empty() {
        out.push_str(
            "<section class=\"card\"><p class=\"meta\">No runs to report.</p></section>\n",
        );
    } else {
        write_summary_table(out, runs)?;
        for chart in &CHARTS {
            write_chart(out, chart, runs)?;
        }
        write_notes(out);
    }
    out.push_str(
        "<footer>Generated by hearth's simulator. Figures are deterministic except wall time.\
         </footer>\n</main>\n</body>\n</html>\n",
    );
    Ok(())
}

/// The line under the title: policies, and each distinct scenario (workload, hosts, VMs, span).
fn write_scenario(out: &mut String, runs: &[PolicyRun]) -> fmt::Result {
    let mut scenarios: Vec<(&str, usize, usize, String)> = Vec::new();
    for run in runs {
        let s = &run.summary;
        let key = (s.workload.as_str(), s.hosts, s.vms, hours(s.simulated_s));
        if !scenarios.contains(&key) {
            scenarios.push(key);
        }
    }
    let n = runs.len();
    write!(out, "<p class=\"meta\">{n} polic{}", if n == 1 { "y" } else { "ies" })?;
    for (workload, hosts, vms, span) in &scenarios {
        write!(
            out,
            " · workload <span class=\"policy\">{}</span> · {} hosts · {} VMs · {span} simulated",
            escape_html(workload),
            group_thousands(*hosts as u64),
            group_thousands(*vms as u64),
        )?;
    }
    out.push_str("</p>\n");
    Ok(())
}

/// Simulated span in hours, for the scenario line.
fn hours(seconds: f64) -> String {
    if seconds.is_finite() {
        format!("{} h", strip_negative_zero(format!("{:.1}", seconds / 3600.0)))
    } else {
        "? h".to_owned()
    }
}

fn write_summary_table(out: &mut String, runs: &[PolicyRun]) -> fmt::Result {
    const COLUMNS: [(&str, &str); 11] = [
        ("Policy", ""),
        ("Energy", "kWh"),
        ("Migrations", "count"),
        ("SLATAH", "%"),
        ("PDM", "%"),
        ("SLAV", "×10⁻⁵"),
        ("Host shutdowns", "count"),
        ("Active hosts", "mean"),
        ("Harvested heat", "kWh"),
        ("Harvest ratio", "%"),
        ("Wall time", "s"),
    ];
    out.push_str(
        "<section class=\"card\">\n<div class=\"card-head\"><h2>Summary</h2>\
         <span class=\"sub\">one row per policy; lower energy, SLATAH, PDM and SLAV are better, \
         higher harvest is better</span></div>\n<div class=\"table-wrap\"><table>\n<thead><tr>",
    );
    for (name, unit) in COLUMNS {
        if unit.is_empty() {
            write!(out, "<th>{name}</th>")?;
        } else {
            write!(out, "<th>{name}<span class=\"unit\">{unit}</span></th>")?;
        }
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for (i, run) in runs.iter().enumerate() {
        let s = &run.summary;
        write!(
            out,
            "<tr><td>{}<span class=\"policy\">{}</span></td>",
            swatch(i),
            escape_html(&s.policy)
        )?;
        let cells = [
            num(s.energy_kwh, 1.0, 2),
            group_thousands(s.migrations),
            num(s.slatah, 100.0, 2),
            num(s.pdm, 100.0, 3),
            num(s.slav, 1e5, 2),
            group_thousands(s.host_shutdowns),
            num(s.mean_active_hosts, 1.0, 1),
            num(s.harvested_heat_kwh, 1.0, 2),
            num(s.harvest_ratio, 100.0, 1),
            num(s.wall_s, 1.0, 2),
        ];
        for cell in cells {
            write!(out, "<td>{cell}</td>")?;
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table></div>\n</section>\n");
    Ok(())
}

/// Short definitions of the table's less obvious columns.
fn write_notes(out: &mut String) {
    out.push_str(
        "<section class=\"card\">\n<div class=\"card-head\"><h2>Definitions</h2></div>\n\
         <dl class=\"notes\">\n\
         <dt>SLATAH</dt><dd>SLA violation time per active host: the share of all hosts' \
         active time during which a host got less CPU than its VMs requested.</dd>\n\
         <dt>PDM</dt><dd>Performance degradation due to migrations: MIPS the VMs lost while \
         migrating, over all MIPS they requested.</dd>\n\
         <dt>SLAV</dt><dd>SLATAH × PDM (Beloglazov &amp; Buyya, 2012), shown ×10⁻⁵.</dd>\n\
         <dt>Harvested heat</dt><dd>Heat from hosts running at or above their target minimum \
         heat rate; the harvest ratio is harvested heat over all heat.</dd>\n\
         <dt>Charts</dt><dd>Mean over each simulation interval, plotted at the interval's \
         start.</dd>\n\
         </dl>\n</section>\n",
    );
}

/// `v × scale` with `decimals` decimals and grouped thousands, or a dash when not finite.
fn num(v: f64, scale: f64, decimals: usize) -> String {
    let x = v * scale;
    if !x.is_finite() {
        return "—".to_owned();
    }
    let s = strip_negative_zero(format!("{x:.decimals$}"));
    let (sign, unsigned) = match s.strip_prefix('-') {
        Some(rest) => ("−", rest),
        None => ("", s.as_str()),
    };
    let (int, frac) = match unsigned.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (unsigned, None),
    };
    // Integer parts past u64 (absurd, but finite) are left ungrouped.
    let int = int.parse::<u64>().map_or_else(|_| int.to_owned(), group_thousands);
    match frac {
        Some(frac) => format!("{sign}{int}.{frac}"),
        None => format!("{sign}{int}"),
    }
}

/// `1234567` → `1,234,567`.
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let head = match digits.len() % 3 {
        0 => 3,
        r => r,
    };
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    out.push_str(&digits[..head.min(digits.len())]);
    let mut rest = &digits[head.min(digits.len())..];
    while !rest.is_empty() {
        out.push(',');
        out.push_str(&rest[..3]);
        rest = &rest[3..];
    }
    out
}

/// A short line in the `i`-th policy's colour and dash, for tables and legends.
fn swatch(i: usize) -> String {
    let style = if i >= PALETTE.len() { "dashed" } else { "solid" };
    format!(
        "<span class=\"swatch\" style=\"border-top-color:{};border-top-style:{style}\"></span>",
        colour(i)
    )
}

fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// Text made safe for HTML element content and quoted attribute values.
fn escape_html(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

// ---------------------------------------------------------------------------------------------
// SVG charts

/// One chart: what it shows and how to read a record.
struct Chart {
    title: &'static str,
    subtitle: &'static str,
    y_label: &'static str,
    /// Ticks must be whole numbers (host counts).
    integer: bool,
    value: fn(&IntervalRecord) -> f64,
}

const CHARTS: [Chart; 3] = [
    Chart {
        title: "Data-center power",
        subtitle: "electrical power of all hosts, kW",
        y_label: "Power (kW)",
        integer: false,
        value: |r| r.power_w / 1000.0,
    },
    Chart {
        title: "Active hosts",
        subtitle: "hosts switched on",
        y_label: "Active hosts",
        integer: true,
        value: |r| f64::from(r.active_hosts),
    },
    Chart {
        title: "Harvested heat rate",
        subtitle: "power of hosts at or above their target heat rate, kW",
        y_label: "Harvested heat (kW)",
        integer: false,
        value: |r| r.harvested_w / 1000.0,
    },
];

/// Geometry of every chart, in SVG user units (the viewBox).
const WIDTH: f64 = 1040.0;
const HEIGHT: f64 = 320.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 50.0;

/// A linear axis: domain, tick step and tick label decimals.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Axis {
    lo: f64,
    hi: f64,
    step: f64,
    decimals: usize,
}

impl Axis {
    /// A readable axis over `[min, max]` (any finite values, possibly equal or inverted),
    /// with about `target` ticks and, unless negative data demands otherwise, 0 as its start.
    fn new(min: f64, max: f64, target: f64, steps: Steps) -> Axis {
        let (mut min, mut max) = if min <= max { (min, max) } else { (max, min) };
        if !(min.is_finite() && max.is_finite()) {
            (min, max) = (0.0, 1.0);
        }
        min = min.min(0.0);
        if max <= min {
            max = min + 1.0;
        }
        let step = nice_step((max - min) / target, steps);
        let lo = (min / step).floor() * step;
        let hi = (max / step).ceil() * step;
        if !(lo.is_finite() && hi.is_finite() && hi > lo && step > 0.0) {
            // Values near f64::MAX: plot as is, without rounding the domain.
            return Axis { lo: min, hi: max, step: max - min, decimals: 0 };
        }
        let hi = if hi <= lo { lo + step } else { hi };
        let decimals =
            if step >= 1.0 { 0 } else { (-step.log10()).ceil().clamp(0.0, 9.0) as usize };
        Axis { lo, hi, step, decimals }
    }

    /// Tick values, at most 60 of them.
    fn ticks(&self) -> Vec<f64> {
        let n = ((self.hi - self.lo) / self.step).round();
        let n = if n.is_finite() { (n as usize).min(60) } else { 1 };
        (0..=n).map(|i| self.lo + self.step * i as f64).collect()
    }

    /// Position of `v` in `[0, 1]` along the axis, clamped.
    fn fraction(&self, v: f64) -> f64 {
        let f = (v - self.lo) / (self.hi - self.lo);
        if f.is_nan() {
            0.0
        } else {
            f.clamp(0.0, 1.0)
        }
    }

    fn label(&self, v: f64) -> String {
        if self.decimals == 0 && v.abs() >= 1e4 && v.abs() < 1e15 {
            let sign = if v < 0.0 { "−" } else { "" };
            format!("{sign}{}", group_thousands(v.abs().round() as u64))
        } else {
            strip_negative_zero(format!("{v:.*}", self.decimals))
        }
    }
}

/// Which tick steps an axis may use.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Steps {
    /// 1, 2 or 5 × 10ⁿ.
    Decimal,
    /// Like `Decimal`, but never below 1.
    Integer,
    /// Hours: 1, 2, 3, 4, 6, 12 or 24 h when at least an hour, multiples of a day beyond.
    Hours,
}

/// The smallest allowed step at least `raw`.
fn nice_step(raw: f64, steps: Steps) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let decimal = |raw: f64| {
        let mag = 10f64.powf(raw.log10().floor());
        let norm = raw / mag;
        let m = if norm <= 1.0 {
            1.0
        } else if norm <= 2.0 {
            2.0
        } else if norm <= 5.0 {
            5.0
        } else {
            10.0
        };
        m * mag
    };
    match steps {
        Steps::Decimal => decimal(raw),
        Steps::Integer => decimal(raw).max(1.0),
        Steps::Hours if raw <= 1.0 => decimal(raw),
        Steps::Hours => [1.0, 2.0, 3.0, 4.0, 6.0, 12.0, 24.0]
            .into_iter()
            .find(|&h| h >= raw)
            .unwrap_or_else(|| 24.0 * decimal(raw / 24.0)),
    }
}

fn write_chart(out: &mut String, chart: &Chart, runs: &[PolicyRun]) -> fmt::Result {
    // Finite points of every run, in hours and chart units.
    let lines: Vec<Vec<(f64, f64)>> = runs
        .iter()
        .map(|run| {
            run.series
                .iter()
                .map(|r| (r.time_s / 3600.0, (chart.value)(r)))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect()
        })
        .collect();
    let bounds = |f: fn(&(f64, f64)) -> f64| {
        lines.iter().flatten().map(f).fold(None, |acc: Option<(f64, f64)>, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
    };
    let has_data = lines.iter().any(|l| !l.is_empty());
    let (x_min, x_max) = bounds(|p| p.0).unwrap_or((0.0, 1.0));
    let (y_min, y_max) = bounds(|p| p.1).unwrap_or((0.0, 1.0));
    let x_axis = Axis::new(x_min, x_max, 10.0, Steps::Hours);
    let y_axis =
        Axis::new(y_min, y_max, 5.0, if chart.integer { Steps::Integer } else { Steps::Decimal });

    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let px = |x: f64| LEFT + x_axis.fraction(x) * plot_w;
    let py = |y: f64| TOP + (1.0 - y_axis.fraction(y)) * plot_h;
    let (x0, x1, y0, y1) = (LEFT, LEFT + plot_w, TOP + plot_h, TOP);

    write!(
        out,
        "<section class=\"card\">\n<div class=\"card-head\"><h2>{}</h2>\
         <span class=\"sub\">{}</span></div>\n<ul class=\"legend\">",
        chart.title, chart.subtitle
    )?;
    for (i, run) in runs.iter().enumerate() {
        write!(
            out,
            "<li>{}<span class=\"policy\">{}</span>{}</li>",
            swatch(i),
            escape_html(&run.summary.policy),
            if lines[i].is_empty() { " <span class=\"sub\">(no data)</span>" } else { "" }
        )?;
    }
    write!(
        out,
        "</ul>\n<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{} by policy over hours \
         since start\">\n",
        chart.y_label
    )?;

    // Grid and y ticks.
    out.push_str("<g stroke=\"#eaeef2\" stroke-width=\"1\">");
    for t in y_axis.ticks() {
        let y = py(t);
        write!(out, "<line x1=\"{x0}\" y1=\"{y:.1}\" x2=\"{x1}\" y2=\"{y:.1}\"/>")?;
    }
    for t in x_axis.ticks() {
        let x = px(t);
        write!(out, "<line x1=\"{x:.1}\" y1=\"{y1}\" x2=\"{x:.1}\" y2=\"{y0}\"/>")?;
    }
    out.push_str("</g>\n<g stroke=\"#8c959f\" stroke-width=\"1\">");
    write!(out, "<line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\"/>")?;
    write!(out, "<line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x0}\" y2=\"{y1}\"/>")?;
    for t in x_axis.ticks() {
        let x = px(t);
        write!(out, "<line x1=\"{x:.1}\" y1=\"{y0}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>", y0 + 5.0)?;
    }
    for t in y_axis.ticks() {
        let y = py(t);
        write!(out, "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{x0}\" y2=\"{y:.1}\"/>", x0 - 5.0)?;
    }
    out.push_str("</g>\n<g>");
    for t in y_axis.ticks() {
        write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" dominant-baseline=\"middle\">{}</text>",
            x0 - 9.0,
            py(t),
            y_axis.label(t)
        )?;
    }
    for t in x_axis.ticks() {
        write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            px(t),
            y0 + 20.0,
            x_axis.label(t)
        )?;
    }
    write!(
        out,
        "<text class=\"axis-title\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">Hours since \
         start</text>",
        LEFT + plot_w / 2.0,
        HEIGHT - 8.0
    )?;
    write!(
        out,
        "<text class=\"axis-title\" transform=\"translate(16 {:.1}) rotate(-90)\" \
         text-anchor=\"middle\" dominant-baseline=\"middle\">{}</text>",
        TOP + plot_h / 2.0,
        chart.y_label
    )?;
    out.push_str("</g>\n");

    if !has_data {
        writeln!(
            out,
            "<text class=\"empty\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">No data</text>",
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        )?;
    }

    // Lines.
    out.push_str(
        "<g fill=\"none\" stroke-width=\"1.6\" stroke-linejoin=\"round\" stroke-linecap=\"round\">\n",
    );
    for (i, (run, points)) in runs.iter().zip(&lines).enumerate() {
        if points.is_empty() {
            continue;
        }
        let dash = if i >= PALETTE.len() { " stroke-dasharray=\"6 4\"" } else { "" };
        let name = escape_html(&run.summary.policy);
        if points.len() == 1 {
            let (x, y) = points[0];
            writeln!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\"><title>{name}</title></circle>",
                px(x),
                py(y),
                colour(i)
            )?;
        }
        write!(out, "<polyline stroke=\"{}\"{dash} points=\"", colour(i))?;
        for (k, &(x, y)) in points.iter().enumerate() {
            if k > 0 {
                out.push(' ');
            }
            write!(out, "{:.1},{:.1}", px(x), py(y))?;
        }
        writeln!(out, "\"><title>{name}</title></polyline>")?;
    }
    out.push_str("</g>\n</svg>\n</section>\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: usize, scale: f64) -> IntervalRecord {
        let t = i as f64 * 300.0;
        let phase = (i as f64 / 288.0) * std::f64::consts::TAU;
        IntervalRecord {
            time_s: t,
            power_w: scale * (40_000.0 + 15_000.0 * phase.sin()),
            active_hosts: (200.0 * scale + 60.0 * phase.sin()).round() as u32,
            harvested_w: scale * (20_000.0 + 10_000.0 * phase.cos()),
            hosts_at_target: 50,
            migrations: (i % 7) as u32,
            overloaded_hosts: (i % 3) as u32,
            cpu_demand_ratio: 0.5 + 0.25 * phase.sin(),
        }
    }

    fn run(policy: &str, n: usize, scale: f64) -> PolicyRun {
        PolicyRun {
            summary: RunSummary {
                policy: policy.to_owned(),
                workload: "synthetic:seed=42".to_owned(),
                hosts: 800,
                vms: 1052,
                energy_kwh: 1_000.0 * scale,
                migrations: 12_345,
                slatah: 0.051,
                pdm: 0.00071,
                slav: 0.000_036_21,
                sla_overall: 0.002,
                host_shutdowns: 987,
                mean_active_hosts: 200.0 * scale,
                harvested_heat_kwh: 480.0 * scale,
                harvest_ratio: 0.48,
                mean_hosts_at_target: 50.0,
                simulated_s: n as f64 * 300.0,
                wall_s: 1.25,
                estimator_errors: Vec::new(),
            },
            series: (0..n).map(|i| record(i, scale)).collect(),
        }
    }

    fn sample() -> Vec<PolicyRun> {
        vec![run("lr-mmt:1.2", 288, 1.0), run("thr-mc:0.8", 288, 1.2), run("hearth", 288, 0.8)]
    }

    #[test]
    fn time_series_csv_has_header_and_one_row_per_policy_per_interval() {
        let csv = time_series_csv(&sample());
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], TIME_SERIES_CSV_HEADER);
        assert_eq!(
            lines[0],
            "policy,time_s,power_w,active_hosts,harvested_w,hosts_at_target,migrations,\
             overloaded_hosts,cpu_demand_ratio"
        );
        assert_eq!(lines.len(), 1 + 3 * 288);
        assert_eq!(lines[1], "lr-mmt:1.2,0.000,40000.000,200,30000.000,50,0,0,0.500000");
        assert!(lines.iter().all(|l| l.split(',').count() == 9));
        assert!(csv.ends_with('\n'));
    }

    #[test]
    fn summary_csv_has_every_field_in_order() {
        let csv = summary_csv(&sample());
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], SUMMARY_CSV_HEADER);
        assert_eq!(lines[0].split(',').count(), 17);
        assert_eq!(
            lines[1],
            "lr-mmt:1.2,synthetic:seed=42,800,1052,1000,12345,0.051,0.00071,0.00003621,0.002,987,\
             200,480,0.48,50,86400,1.25"
        );
    }

    #[test]
    fn csv_quotes_names_with_commas_or_quotes_only() {
        let mut runs = vec![run("a,b", 2, 1.0), run("say \"hi\"", 1, 1.0), run("plain", 1, 1.0)];
        runs[0].summary.workload = "w,x".to_owned();
        let ts = time_series_csv(&runs);
        assert!(ts.lines().nth(1).unwrap().starts_with("\"a,b\",0.000,"));
        assert!(ts.lines().nth(3).unwrap().starts_with("\"say \"\"hi\"\"\",0.000,"));
        assert!(ts.lines().nth(4).unwrap().starts_with("plain,0.000,"));
        let summary = summary_csv(&runs);
        assert!(summary.lines().nth(1).unwrap().starts_with("\"a,b\",\"w,x\",800,"));
    }

    #[test]
    fn csv_leaves_non_finite_fields_empty() {
        let mut runs = vec![run("p", 1, 1.0)];
        runs[0].series[0].power_w = f64::NAN;
        runs[0].series[0].cpu_demand_ratio = f64::INFINITY;
        runs[0].summary.slav = f64::NAN;
        let ts = time_series_csv(&runs);
        assert_eq!(ts.lines().nth(1).unwrap(), "p,0.000,,200,30000.000,50,0,0,");
        assert!(summary_csv(&runs).lines().nth(1).unwrap().contains(",0.00071,,0.002,"));
    }

    #[test]
    fn html_escapes_title_and_policy_names() {
        let runs = vec![run("<script>alert(1)</script>", 10, 1.0)];
        let html = html_report("<script>alert('x')</script> & co", &runs);
        assert!(!html.contains("<script"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    #[test]
    fn html_has_three_charts_with_one_line_per_policy_each() {
        let html = html_report("Day", &sample());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.trim_end().ends_with("</html>"));
        assert_eq!(html.matches("<svg").count(), 3);
        assert_eq!(html.matches("</svg>").count(), 3);
        assert_eq!(html.matches("<polyline").count(), 3 * 3);
        assert_eq!(html.matches("viewBox=").count(), 3);
        for colour in &PALETTE[..3] {
            assert_eq!(html.matches(&format!("<polyline stroke=\"{colour}\"")).count(), 3);
        }
        // Self-contained: nothing to fetch, nothing to run.
        for banned in ["<script", "<link", "src=", "@import", "url(", "@font-face"] {
            assert!(!html.contains(banned), "{banned}");
        }
        // Coordinates have one decimal.
        let points = html.split("points=\"").nth(1).unwrap().split('"').next().unwrap();
        assert_eq!(points.split(' ').count(), 288);
        for p in points.split(' ') {
            for c in p.split(',') {
                assert_eq!(c.split('.').nth(1).map(str::len), Some(1), "{p}");
            }
        }
    }

    #[test]
    fn empty_inputs_render() {
        assert_eq!(time_series_csv(&[]), format!("{TIME_SERIES_CSV_HEADER}\n"));
        assert_eq!(summary_csv(&[]), format!("{SUMMARY_CSV_HEADER}\n"));
        let html = html_report("", &[]);
        assert!(html.contains("No runs to report."));
        assert_eq!(html.matches("<svg").count(), 0);

        let runs = vec![run("empty", 0, 1.0), run("one", 1, 1.0)];
        assert_eq!(time_series_csv(&runs).lines().count(), 2);
        let html = html_report("t", &runs);
        assert_eq!(html.matches("<svg").count(), 3);
        assert_eq!(html.matches("<polyline").count(), 3);
        assert!(html.contains("(no data)"));

        let html = html_report("t", &[run("empty", 0, 1.0)]);
        assert_eq!(html.matches("No data</text>").count(), 3);
    }

    #[test]
    fn degenerate_values_do_not_panic() {
        let mut zero = run("zero", 288, 0.0);
        for r in &mut zero.series {
            r.active_hosts = 0;
            r.time_s = 0.0;
        }
        let mut wild = run("wild", 5, 1.0);
        wild.series[0].power_w = f64::NAN;
        wild.series[1].power_w = f64::INFINITY;
        wild.series[2].harvested_w = f64::NEG_INFINITY;
        wild.series[3].power_w = f64::MAX;
        wild.series[4].time_s = f64::NAN;
        wild.summary.energy_kwh = f64::NAN;
        let mut negative = run("negative", 3, -1.0);
        negative.series[1].power_w = -f64::MAX;
        for runs in [vec![zero.clone()], vec![wild.clone()], vec![zero, wild, negative]] {
            let html = html_report("edge", &runs);
            assert_eq!(html.matches("<svg").count(), 3);
            assert!(!html.contains("NaN") && !html.contains("inf"), "{html}");
        }
    }

    #[test]
    fn many_policies_cycle_colours_with_dashes() {
        let runs: Vec<PolicyRun> = (0..10).map(|i| run(&format!("p{i}"), 4, 1.0)).collect();
        let html = html_report("many", &runs);
        assert_eq!(html.matches("<polyline").count(), 30);
        assert_eq!(html.matches("stroke-dasharray").count(), 2 * 3);
    }

    #[test]
    fn output_is_deterministic() {
        let runs = sample();
        assert_eq!(html_report("Day", &runs), html_report("Day", &runs.clone()));
        assert_eq!(time_series_csv(&runs), time_series_csv(&runs));
        assert_eq!(summary_csv(&runs), summary_csv(&runs));
    }

    #[test]
    fn axes_are_readable() {
        let x = Axis::new(0.0, 287.0 * 300.0 / 3600.0, 10.0, Steps::Hours);
        assert_eq!((x.lo, x.hi, x.step), (0.0, 24.0, 3.0));
        assert_eq!(x.ticks().len(), 9);
        let y = Axis::new(0.0, 0.0, 5.0, Steps::Integer);
        assert_eq!((y.lo, y.hi, y.step), (0.0, 1.0, 1.0));
        let y = Axis::new(12.3, 87.6, 5.0, Steps::Decimal);
        assert_eq!((y.lo, y.hi, y.step, y.decimals), (0.0, 100.0, 20.0, 0));
        let y = Axis::new(0.0, 0.37, 5.0, Steps::Decimal);
        assert_eq!((y.hi, y.decimals), (0.4, 1));
        assert_eq!(y.label(0.30000000000000004), "0.3");
        assert_eq!(group_thousands(1_234_567), "1,234,567");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(100_000), "100,000");
        assert_eq!(num(1234.5678, 1.0, 2), "1,234.57");
        assert_eq!(num(-0.0001, 1.0, 2), "0.00");
        assert_eq!(num(-12_345.0, 1.0, 0), "−12,345");
        assert_eq!(num(f64::NAN, 1.0, 2), "—");
        assert_eq!(num(0.000_036_21, 1e5, 2), "3.62");
    }
}
