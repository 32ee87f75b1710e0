//! A [`Page`] as one self-contained HTML document (maud templates, checked at compile time):
//! inline CSS with light and dark schemes (`prefers-color-scheme`) and an A4 print layout,
//! inline SVG for bars and the chart, no script, no font, no resource from anywhere.
//!
//! Owns: the markup and the style. Every value is escaped by maud; the only unescaped text is
//! the constant style sheet. Must not read anything or decide what the page holds.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::advice;
use super::chart::chart;
use super::model::{Kind, Page, Reasons, StepLine};

/// The style sheet: system fonts only, colours as variables for both schemes, A4 when printed.
const CSS: &str = r#"
:root{--bg:#fff;--fg:#1b1f24;--mute:#5b6570;--line:#d6dbe0;--card:#f5f7f9;
--good:#2e8b57;--upd:#3a78c2;--ex:#7a68c9;--bad:#c93c3c;--unk:#d08a1a;--skip:#9aa4ad;--pend:#b5b5b5;
--l1:#3a78c2;--l2:#2e8b57;--l3:#c93c3c;--l4:#7a68c9;--ideal:#d08a1a}
@media (prefers-color-scheme:dark){:root{--bg:#15181c;--fg:#e4e8ec;--mute:#9aa6b2;--line:#343b43;--card:#1d2227;
--good:#4cb77c;--upd:#6aa4e8;--ex:#a595f0;--bad:#f06a6a;--unk:#f0b040;--skip:#6f7a84;--pend:#555;
--l1:#6aa4e8;--l2:#4cb77c;--l3:#f06a6a;--l4:#a595f0;--ideal:#f0b040}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1000px;margin:0 auto;padding:24px 20px 48px}
h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:14px;margin:16px 0 6px}
.facts{color:var(--mute);margin:0 0 8px;display:flex;flex-wrap:wrap;gap:4px 18px}.facts b{color:var(--fg);font-weight:600}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--mute);font-size:12px}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.bar{display:flex;height:12px;min-width:160px;border-radius:3px;overflow:hidden;background:var(--card)}
.bar span{display:block;height:100%}
.o-good{background:var(--good)}.o-upd{background:var(--upd)}.o-ex{background:var(--ex)}.o-bad{background:var(--bad)}
.o-unk{background:var(--unk)}.o-skip{background:var(--skip)}.o-pend{background:var(--pend)}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;color:var(--mute);font-size:12px}.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
ul{margin:4px 0;padding-left:20px}.mute{color:var(--mute)}
.chart svg{display:block;width:100%;height:110px;margin:4px 0}
.chart text{font-size:10px;fill:var(--mute)}.chart text.t{font-size:11px;fill:var(--fg);font-weight:600}
.chart .axis{stroke:var(--line);stroke-width:1}.chart polyline{fill:none;stroke-width:1.6;vector-effect:non-scaling-stroke}
.l-items{stroke:var(--l1)}.l-flight{stroke:var(--l2)}.l-refused{stroke:var(--l3)}.l-oper{stroke:var(--l4)}
.chart .ideal{stroke:var(--ideal);stroke-dasharray:5 4;stroke-width:1.2;vector-effect:non-scaling-stroke}.chart .ideal-lab{fill:var(--ideal)}
.group{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:8px 12px;margin:10px 0;break-inside:avoid}
.group h3{margin:2px 0}.code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.count{float:right;font-weight:600}.todo{margin:4px 0 6px}.todo b{color:var(--fg)}
.kv td:first-child{color:var(--mute);width:28%;white-space:nowrap}
.sha{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px;word-break:break-all}
@media print{@page{size:A4;margin:14mm}body{font-size:10.5pt;background:#fff;color:#000}main{max-width:none;padding:0}
:root{--bg:#fff;--fg:#000;--mute:#444;--line:#bbb;--card:#f4f4f4}h2{break-after:avoid}tr,.group,.chart svg{break-inside:avoid}}
"#;

/// The page as one HTML document.
pub fn render(page: &Page) -> String {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (page.title) }
                style { (PreEscaped(CSS)) }
            }
            body { main {
                h1 { (page.title) }
                div.facts { @for (k, v) in &page.facts { span { (k) ": " b { (v) } } } }
                (steps(page))
                @if page.kind != Kind::Validation { (over_time(page)) }
                (reasons(page))
                @if !page.notes.is_empty() {
                    h2 { "Notes" }
                    table { tr { th { "step" } th { "note" } }
                        @for n in &page.notes { tr { td { (n.step) } td { (n.text) } } } }
                }
                (settings(page))
                @if !page.rerun.is_empty() {
                    h2 { @if page.kind == Kind::Validation { "What a run would do" } @else { "What a re-run would do" } }
                    ul { @for r in &page.rerun { li { (r) } } }
                }
                p.mute { "Written by b24import from the journal and the run's own figures; no request was made to the portal for this page." }
            } }
        }
    };
    markup.into_string()
}

/// Per step: read and every outcome as numbers, and a bar of the outcomes.
fn steps(page: &Page) -> Markup {
    let columns: Vec<_> =
        page.steps.first().map(|s| s.outcomes.iter().map(|o| o.0).collect()).unwrap_or_default();
    html! {
        h2 { "Per step" }
        @if page.steps.is_empty() { p.mute { "No step was run." } } @else {
            table {
                tr { th { "step" } th { "entity" } th.n { "read" }
                    @for c in &columns { th.n { (c.label()) } }
                    th { "" } }
                @for s in &page.steps {
                    tr { td { (s.name) } td { (s.entity) } td.n { (s.read) }
                        @for (_, n) in &s.outcomes { td.n { (n) } }
                        td { (bar(s)) } }
                }
            }
            div.legend { @for c in &columns { span { i class=(c.class()) {} (c.label()) } } }
        }
        @if !page.figures.is_empty() { ul { @for f in &page.figures { li { (f) } } } }
    }
}

/// A stacked bar of a step's outcomes (shares of their sum).
fn bar(s: &StepLine) -> Markup {
    let total: u64 = s.outcomes.iter().map(|o| o.1).sum();
    html! {
        div.bar title=(format!("{} rows", total)) {
            @for (o, n) in &s.outcomes {
                @if *n > 0 && total > 0 {
                    span class=(o.class()) style=(format!("width:{:.2}%", *n as f64 * 100.0 / total as f64)) title=(format!("{} {}", n, o.label())) {}
                }
            }
        }
    }
}

fn over_time(page: &Page) -> Markup {
    html! {
        h2 { "The run over time" }
        @match page.series.as_ref().and_then(chart) {
            Some(svg) => {
                (svg)
                p.mute { "Ten samples a second for the first ten seconds, then one a second. The dashed lines are the ideal pace of the wall that bound the run and the operating budget per method." }
            }
            None => p.mute { (page.no_series.as_deref().unwrap_or("No figures over time were recorded for this run.")) },
        }
    }
}

fn reasons(page: &Page) -> Markup {
    let total: u64 = page.reasons.iter().map(Reasons::total).sum();
    let word = if page.kind == Kind::Validation { "Invalid rows" } else { "Rejected rows" };
    html! {
        h2 { (word) " by reason" }
        @if let Some(n) = &page.reasons_note { p.mute { (n) } }
        @if total == 0 && page.kind != Kind::DryRun { p { "None." } }
        @for r in &page.reasons {
            @for g in r.groups() {
                div.group {
                    span.count { (g.count) " row(s)" }
                    h3 { (g.step) ": " span.code { (if g.code.is_empty() { "(no code)" } else { &g.code }) } " " (g.text) }
                    p.todo { b { "What to do: " } (advice::for_code(&g.code)) }
                    @let also = g.rows.iter().any(|r| r.message.is_some());
                    table {
                        tr { th { "row" } th { "key" } th { "column" } th { "value" } @if also { th { "also" } } }
                        @for row in &g.rows {
                            tr { td { (row.row) } td { (row.key.as_deref().unwrap_or("")) }
                                td { (row.column.as_deref().unwrap_or("")) } td { (row.value.as_deref().unwrap_or("")) }
                                @if also { td { (row.message.as_deref().unwrap_or("")) } } }
                        }
                    }
                    @if g.count > g.rows.len() as u64 {
                        p.mute { "… and " (g.count - g.rows.len() as u64) " more row(s) with this reason." }
                    }
                }
            }
            @if r.other_rows > 0 {
                p.mute { (r.step()) ": " (r.other_rows) " more row(s) with other reasons (b24import rejects lists every row)." }
            }
        }
    }
}

fn settings(page: &Page) -> Markup {
    html! {
        h2 { "Settings" }
        table.kv { @for (k, v) in &page.settings { tr { td { (k) } td { (v) } } } }
        @if !page.sources.is_empty() {
            h3 { "Mappings and sources" }
            table {
                tr { th { "step" } th { "mapping" } th { "source" } th.n { "bytes" } th { "SHA-256" } }
                @for s in &page.sources {
                    tr { td { (s.step) } td { (s.mapping) } td { (s.path) }
                        td.n { (s.size.map(|n| n.to_string()).unwrap_or_default()) }
                        td.sha { (s.sha256.as_deref().unwrap_or("not recorded")) } }
                }
            }
        }
    }
}
