//! The HTML report: one self-contained file for commissioners.
//!
//! It holds the report table with disclosure applied exactly as in the CSV,
//! a bar chart per event type (pre vs post by group) drawn as inline SVG
//! with `plotters`, the method and the numbers in plain words, the key id
//! and the tool version. No script, no external asset, no token, no
//! identifier. Every piece of text from the input files is HTML-escaped.

use std::fmt::Write as _;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use crate::relink::disclosure::{Disclosure, Shown};
use crate::relink::labels::Labels;
use crate::relink::matching::Comparison;
use crate::relink::release::{Release, Table};
use crate::relink::Outcome;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const PRE: RGBColor = RGBColor(0x00, 0x5e, 0xb8); // NHS blue
const POST: RGBColor = RGBColor(0x00, 0x96, 0x39); // NHS green

/// One bar chart: released pre and post counts per group (`None` where the
/// count is suppressed).
fn chart_svg(title: &str, bars: &[(String, Option<u64>, Option<u64>)]) -> String {
    let mut svg = String::new();
    // Room for every label in full: labels are never cut.
    let longest = bars.iter().map(|b| b.0.chars().count()).max().unwrap_or(0) as u32;
    let width = 160 + (110u32).max(8 * longest + 10) * bars.len().max(1) as u32;
    let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut svg, (width.min(2400), 380)).into_drawing_area();
        root.fill(&WHITE)?;
        let max = bars
            .iter()
            .flat_map(|b| [b.1, b.2])
            .flatten()
            .max()
            .unwrap_or(0)
            .max(1);
        let n = bars.len() as u32;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(70)
            .y_label_area_size(60)
            // A segmented range 0..k has k + 1 segments.
            .build_cartesian_2d(
                (0..n.saturating_sub(1)).into_segmented(),
                0u64..(max + max / 6 + 1),
            )?;
        let label = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) => bars
                .get(*i as usize)
                .map(|b| b.0.clone())
                .unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.len())
            .x_label_formatter(&label)
            .y_desc("events")
            .label_style(("sans-serif", 13))
            .draw()?;
        for (i, (_, pre, post)) in bars.iter().enumerate() {
            let i = i as u32;
            let (x0, _) = chart.backend_coord(&(SegmentValue::Exact(i), 0));
            let (x1, y0) = chart.backend_coord(&(SegmentValue::Exact(i + 1), 0));
            let w = x1 - x0;
            for (k, (value, colour)) in [(pre, PRE), (post, POST)].into_iter().enumerate() {
                let left = x0 + w / 10 + k as i32 * (w * 4 / 10);
                let right = left + w * 4 / 10 - 2;
                match value {
                    Some(v) => {
                        let (_, top) = chart.backend_coord(&(SegmentValue::Exact(i), *v));
                        root.draw(&Rectangle::new([(left, top), (right, y0)], colour.filled()))?;
                        root.draw(&Text::new(
                            v.to_string(),
                            (left, top - 16),
                            ("sans-serif", 12).into_font(),
                        ))?;
                    }
                    None => {
                        root.draw(&Text::new(
                            "*",
                            (left + (right - left) / 2 - 3, y0 - 18),
                            ("sans-serif", 16).into_font(),
                        ))?;
                    }
                }
            }
        }
        legend(
            &root,
            &[("before (pre)", PRE), ("after (post)", POST)],
            80,
            130,
        )?;
        root.present()?;
        Ok(())
    })();
    drawn_or_note(drawn.is_ok(), svg)
}

/// Draws a legend: a colour box and a name per item, from `x`, `step`
/// apart.
fn legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    items: &[(&str, RGBColor)],
    x: i32,
    step: i32,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    for (k, (name, colour)) in items.iter().enumerate() {
        let x = x + k as i32 * step;
        root.draw(&Rectangle::new([(x, 40), (x + 12, 52)], colour.filled()))?;
        root.draw(&Text::new(
            name.to_string(),
            (x + 18, 39),
            ("sans-serif", 13).into_font(),
        ))?;
    }
    Ok(())
}

/// The chart, or a note where it could not be drawn.
fn drawn_or_note(drawn: bool, svg: String) -> String {
    if drawn {
        svg
    } else {
        String::from("<p>(The chart could not be drawn.)</p>")
    }
}

/// The event study's line chart: events per 100 people by month around the
/// referral, one line per series (`None` where withheld), with the
/// referral month marked.
/// A line of the event-study chart: name, colour, and (month, rate) points.
type Line<'a> = (&'a str, RGBColor, Vec<(i32, Option<f64>)>);

fn line_chart_svg(title: &str, series: &[Line<'_>]) -> String {
    let mut svg = String::new();
    let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut svg, (640, 360)).into_drawing_area();
        root.fill(&WHITE)?;
        let max = series
            .iter()
            .flat_map(|s| s.2.iter().filter_map(|p| p.1))
            .fold(1.0f64, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(-12i32..12i32, 0f64..max * 1.15)?;
        chart
            .configure_mesh()
            .x_desc("months from referral")
            .y_desc("events per 100 people")
            .label_style(("sans-serif", 12))
            .draw()?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0, 0.0), (0, max * 1.15)],
            BLACK.mix(0.5).stroke_width(2),
        )))?;
        for (_, colour, points) in series {
            // Draw each run of shown months as one line.
            for run in points.split(|p| p.1.is_none()) {
                let line: Vec<(i32, f64)> =
                    run.iter().filter_map(|&(m, v)| v.map(|v| (m, v))).collect();
                chart.draw_series(LineSeries::new(line, colour.stroke_width(3)))?;
            }
        }
        let items: Vec<(&str, RGBColor)> = series.iter().map(|(n, c, _)| (*n, *c)).collect();
        legend(&root, &items, 90, 170)?;
        root.present()?;
        Ok(())
    })();
    drawn_or_note(drawn.is_ok(), svg)
}

/// The event study: a line chart per event type from the Total rows.
fn event_study_section(h: &mut String, table: &Table) {
    let (Some(t_col), Some(m_col), Some(rate)) = (
        table.col("event_type"),
        table.col("month"),
        table.col("case_rate_per_100"),
    ) else {
        return;
    };
    let control = table.col("control_rate_per_100");
    let rows: Vec<Vec<String>> = table
        .strings()
        .into_iter()
        .filter(|r| r[..table.labels - 2].iter().all(|l| l == "Total"))
        .collect();
    let mut types: Vec<&str> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in &rows {
        if seen.insert(r[t_col].as_str()) {
            types.push(&r[t_col]);
        }
    }
    h.push_str("<h2>Month by month</h2>\n<p>Events per 100 people in each month from a year before the referral to a year after (month 0 starts on the referral date). People are often referred at a peak: a fall after it that the comparison group shows too is regression to the mean, not the service.</p>\n<div class=\"charts\">\n");
    for t in types {
        let points = |col: usize| -> Vec<(i32, Option<f64>)> {
            rows.iter()
                .filter(|r| r[t_col] == t)
                .map(|r| (r[m_col].parse().unwrap_or(0), r[col].parse().ok()))
                .collect()
        };
        let mut series = vec![("Referred people", PRE, points(rate))];
        if let Some(c) = control {
            series.push(("Matched comparison", POST, points(c)));
        }
        let _ = writeln!(
            h,
            "<figure>{}<figcaption>{}: events per 100 people by month; the line at 0 is the referral. Gaps are months withheld (small numbers).</figcaption></figure>",
            line_chart_svg(&format!("{t}: month by month"), &series),
            escape(t)
        );
    }
    h.push_str("</div>\n");
}

fn released(cell: &str) -> Option<u64> {
    cell.parse().ok()
}

/// Renders the whole page.
pub fn render(outcome: &Outcome, months: i32) -> String {
    let release = &outcome.release;
    let n_types = outcome.report.types.len().max(1);
    // Rows come group by group, a row per type, Total last.
    let first_total = release.report.rows.len().saturating_sub(n_types);
    let total_rows: Vec<usize> = (first_total..release.report.rows.len()).collect();
    let header = release.report.header.clone();
    let cells = release.report.strings();
    let mut h = String::new();
    head_and_lead(&mut h, outcome, months);
    group_charts(&mut h, outcome, &cells, first_total, months);
    h.push_str("<h2>The numbers</h2>\n");
    // A table per family of measures, so that each fits a laptop screen
    // and an A4 page.
    let value_name = outcome.usage.value_column.as_deref();
    for (title, columns) in families(&header, value_name) {
        let _ = writeln!(h, "<h3>{}</h3>", escape(&title));
        html_table(
            &mut h,
            &release.report,
            &columns,
            first_total,
            &outcome.labels,
        );
    }
    let disclosure = release.disclosure;
    change_sentences(&mut h, outcome, disclosure, &header, &cells, &total_rows);
    if let Some(c) = &outcome.comparison {
        comparison_section(&mut h, c, release, &total_rows, outcome, months);
    }
    if let Some(study) = &release.event_study {
        event_study_section(&mut h, study);
    }
    if let (Some(costs), Some(released)) = (&outcome.costs, &release.costs) {
        costs_section(&mut h, released, costs.service_cost, disclosure, months);
    }
    method(&mut h, outcome, months);
    footer(&mut h, outcome, &header);
    h
}

/// The page's head, title, the not-for-release warning and the lead.
fn head_and_lead(h: &mut String, outcome: &Outcome, months: i32) {
    let release = &outcome.release;
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>Social prescribing: use of acute care before and after</title>\n<style>\n{}\n</style>\n</head>\n<body>",
        CSS
    );
    h.push_str("<h1>Use of acute care before and after social prescribing</h1>\n");
    if release.disclosure == Disclosure::None {
        h.push_str("<p class=\"warn\"><strong>Not for release:</strong> this report shows exact counts, including small numbers. It is for the ICB's own analysts only.</p>\n");
    }
    let included = total_cell(&release.report, "patients");
    let _ = writeln!(
        h,
        "<p class=\"lead\">For each person referred, A&amp;E attendances and other events were counted in the {months} months <em>before</em> and the {months} months <em>after</em> their first social prescribing intervention. {} are included.</p>",
        people(&included)
    );
}

/// A bar chart per event type of the groups' events before and after (not
/// the totals), linear in the rows.
fn group_charts(
    h: &mut String,
    outcome: &Outcome,
    cells: &[Vec<String>],
    first_total: usize,
    months: i32,
) {
    let report = &outcome.report;
    let (groups, n_types) = (report.group_columns.len(), report.types.len().max(1));
    h.push_str("<h2>Events before and after, by group</h2>\n<div class=\"charts\">\n");
    for (k, t) in report.types.iter().enumerate() {
        let bars: Vec<(String, Option<u64>, Option<u64>)> = (k..first_total)
            .step_by(n_types)
            .map(|i| {
                let cell = &cells[i];
                let pre = released(&cell[groups + 2]);
                (
                    report.rows[i].group.join(" / "),
                    pre,
                    released(&cell[groups + 3]),
                )
            })
            .collect();
        let name = outcome.labels.event_type(t);
        let _ = writeln!(
            h,
            "<figure>{}<figcaption>{}: events in the {months} months before (blue) and after (green) the first intervention. * = suppressed (1 to 7).</figcaption></figure>",
            chart_svg(&name, &bars),
            escape(&name)
        );
    }
    h.push_str("</div>\n");
}

/// "How these numbers were made", in plain words.
fn method(h: &mut String, outcome: &Outcome, months: i32) {
    let release = &outcome.release;
    let (start, end, inferred) = outcome.coverage;
    let p = &release.prose;
    h.push_str("<h2>How these numbers were made</h2>\n<ul>\n");
    let _ = writeln!(
        h,
        "<li><strong>Windows.</strong> For a first intervention on day <em>d</em>, “before” is the {months} months up to the day before <em>d</em>, and “after” is <em>d</em> and the {months} months from it (a month from 31 January ends at the end of February).</li>"
    );
    let _ = writeln!(
        h,
        "<li><strong>Coverage.</strong> The activity data covers {start} to {end}{}. People whose windows reach outside that span are left out ({}), so that everyone is counted over the same length of time.</li>",
        if inferred { " (taken from the earliest and latest events in the data)" } else { "" },
        count_words(p.excluded, "person", "people")
    );
    let _ = writeln!(
        h,
        "<li><strong>People.</strong> Where a person was referred more than once, their first intervention is used ({}).</li>",
        count_words(p.repeat_referrals, "repeat referral", "repeat referrals")
    );
    let _ = writeln!(
        h,
        "<li><strong>Activity.</strong> {} were read, {} of them for referred people; {} could not be used (missing or invalid identifiers).</li>",
        count_words(p.usage_rows, "activity record", "activity records"),
        count_words(p.usage_matched, "record", "records"),
        count_words(p.usage_unusable, "record", "records")
    );
    h.push_str("<li><strong>Change.</strong> The change from before to after as a percentage of the events before.</li>\n");
    h.push_str("<li><strong>p-value.</strong> A Wilcoxon signed-rank test on each person's change in events (after minus before). A small p-value (below 0.05, say) means a change this large would be unlikely if social prescribing made no difference on average. It does not show the cause: people are often referred at a peak of need, and their use of services may fall anyway (regression to the mean).</li>\n");
    match release.disclosure {
        Disclosure::Hes => {
            let _ = writeln!(
                h,
                "<li><strong>Small numbers.</strong> To protect privacy, following NHS rules for hospital data, every count from 1 to 7 is shown as *, and other counts are rounded to the nearest 5. Where a hidden count could be worked out from the others (by taking the shown groups from the total), a further count is hidden too; a group of fewer than 8 people is hidden whole. Averages, percentages and costs are computed from the counts as shown, so none reveals an exact count. A p-value is shown only when at least 10 people's use changed, and a comparison-group estimate only for 8 or more matched people. In all, {}.</li>",
                release.summary().split_once(": ").map_or("", |x| x.1)
            );
        }
        Disclosure::None => h.push_str(
            "<li><strong>Small numbers.</strong> None are suppressed in this version.</li>\n",
        ),
    }
    h.push_str("</ul>\n");
}

/// The tool, the SPEC, the time, the key id and the columns.
fn footer(h: &mut String, outcome: &Outcome, header: &[String]) {
    let groups = outcome.report.group_columns.len();
    let _ = writeln!(
        h,
        "<p class=\"meta\">Made by pseudolink {} (SPEC {}) on {}. Key id {}. Columns: {}. This page holds counts only: no NHS numbers, tokens or other identifiers.</p>\n</body>\n</html>",
        crate::VERSION,
        crate::SPEC_IMPLEMENTED,
        crate::now_rfc3339(),
        outcome
            .key_id
            .as_ref()
            .map(|k| escape(k.as_str()))
            .unwrap_or_else(|| "unknown".into()),
        escape(&header[groups..].join(", "))
    );
}

/// Pounds and pence with the sign before the £: `−£0.27`.
fn money(x: f64) -> String {
    if x < 0.0 {
        format!("−£{:.2}", -x)
    } else {
        format!("£{x:.2}")
    }
}

/// The cost estimate net of the comparison group in words, with its
/// interval, and the return per pound with its interval (never without).
fn net_cost_words(net: &str, lo: &str, hi: &str, service: Option<&str>) -> String {
    if net == "*" {
        return "<li><strong>Against the comparison group</strong>, the cost estimate rests on too few matched people to show.</li>\n".into();
    }
    let pounds = |x: &str| match x.strip_prefix('-') {
        Some(v) => format!("£{} less", escape(&thousands(v))),
        None => format!("£{} more", escape(&thousands(x))),
    };
    let interval = if lo.is_empty() || lo == "*" {
        "; too few matched people for an interval".to_string()
    } else {
        format!(" (95% interval {} to {})", pounds(lo), pounds(hi))
    };
    let mut s = format!(
        "<li><strong>Against the comparison group</strong>: hospital costs per referred person changed by an estimated {}{interval} compared with matched people who were not referred.",
        pounds(net)
    );
    if let (Some(service), Ok(n), Ok(l), Ok(u)) = (
        service,
        net.parse::<f64>(),
        lo.parse::<f64>(),
        hi.parse::<f64>(),
    ) {
        let per = |x: f64| x / service.replace(',', "").parse::<f64>().unwrap_or(f64::NAN);
        let _ = write!(
            s,
            " On a service cost of £{service} per patient, that is an estimated net return of {} per pound spent (95% interval {} to {}); {}.",
            money(-per(n)),
            money(-per(u)),
            money(-per(l)),
            if l > 0.0 || u < 0.0 {
                "the interval excludes no difference"
            } else {
                "the interval includes no difference, so the data are consistent with no change in costs"
            }
        );
    }
    s.push_str("</li>\n");
    s
}

/// The report's columns in families, each shown as its own table after
/// the group columns and the event type.
fn families(header: &[String], value: Option<&str>) -> Vec<(String, Vec<String>)> {
    let has = |c: &str| header.iter().any(|h| h == c);
    let pick = |cols: &[&str]| -> Vec<String> {
        cols.iter()
            .filter(|c| has(c))
            .map(|c| c.to_string())
            .collect()
    };
    let mut out = vec![(
        "Events before and after".to_string(),
        pick(&[
            "patients",
            "pre_events",
            "post_events",
            "pre_per_patient",
            "post_per_patient",
            "change_pct",
            "p_value",
        ]),
    )];
    let mut changed = pick(&[
        "patients",
        "patients_with_pre_event",
        "patients_with_post_event",
        "patients_decreased",
        "patients_unchanged",
        "patients_increased",
    ]);
    changed.extend(
        header
            .iter()
            .filter(|h| h.starts_with("patients_within_") || h.starts_with("pct_within_"))
            .cloned(),
    );
    out.push(("Whose use changed".to_string(), changed));
    if let Some(v) = value {
        out.push((
            format!("Sums of {v} (for example bed days)"),
            pick(&[
                "pre_value",
                "post_value",
                "value_change_pct",
                "value_p_value",
            ]),
        ));
    }
    if has("matched_cases") {
        out.push((
            "Against the matched comparison group".to_string(),
            pick(&[
                "matched_cases",
                "case_pre_per_patient_matched",
                "case_post_per_patient_matched",
                "controls",
                "control_pre_per_patient",
                "control_post_per_patient",
                "did_per_patient",
                "did_ci_low",
                "did_ci_high",
            ]),
        ));
    }
    out
}

/// A column's heading in words.
fn heading(column: &str) -> String {
    let known = [
        ("event_type", "Event"),
        ("patients", "People"),
        ("pre_events", "Before"),
        ("post_events", "After"),
        ("pre_per_patient", "Before, per person"),
        ("post_per_patient", "After, per person"),
        ("change_pct", "Change %"),
        ("p_value", "p-value"),
        ("patients_with_pre_event", "People with an event before"),
        ("patients_with_post_event", "People with an event after"),
        ("patients_decreased", "Fewer after"),
        ("patients_unchanged", "The same"),
        ("patients_increased", "More after"),
        ("pre_value", "Before"),
        ("post_value", "After"),
        ("value_change_pct", "Change %"),
        ("value_p_value", "p-value"),
        ("matched_cases", "Matched people"),
        (
            "case_pre_per_patient_matched",
            "Matched: before, per person",
        ),
        (
            "case_post_per_patient_matched",
            "Matched: after, per person",
        ),
        ("controls", "Comparison people"),
        ("control_pre_per_patient", "Comparison: before, per person"),
        ("control_post_per_patient", "Comparison: after, per person"),
        ("did_per_patient", "Estimated difference per person"),
        ("did_ci_low", "95% interval from"),
        ("did_ci_high", "to"),
    ];
    if let Some((_, h)) = known.iter().find(|(c, _)| *c == column) {
        return h.to_string();
    }
    if let Some(d) = column.strip_prefix("patients_within_") {
        return format!("People with an event within {}", d.replace('d', " days"));
    }
    if let Some(d) = column.strip_prefix("pct_within_") {
        return format!("% within {}", d.replace('d', " days"));
    }
    column.replace('_', " ")
}

/// A p-value for reading: `< 0.001`, or three decimals.
fn p_value_words(cell: &str) -> String {
    match cell.parse::<f64>() {
        Ok(p) if p < 0.001 => "< 0.001".into(),
        Ok(p) => format!("{p:.3}"),
        Err(_) => cell.to_string(),
    }
}

/// One table of the report: the group columns, the event type, `columns`.
fn html_table(
    h: &mut String,
    table: &Table,
    columns: &[String],
    first_total: usize,
    names: &Labels,
) {
    let labels = table.labels;
    let picked: Vec<usize> = (0..labels)
        .chain(columns.iter().filter_map(|c| table.col(c)))
        .collect();
    h.push_str("<div class=\"table\"><table>\n<thead><tr>");
    for &k in &picked {
        let name = &table.header[k];
        let words = if k + 1 < labels {
            names.column(name)
        } else {
            heading(name)
        };
        let _ = write!(h, "<th>{}</th>", escape(&words));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for (i, row) in table.strings().iter().enumerate() {
        let class = if i >= first_total {
            " class=\"total\""
        } else {
            ""
        };
        let _ = write!(h, "<tr{class}>");
        for &k in &picked {
            let cell = &row[k];
            let name = table.header[k].as_str();
            let (class, text) = if k + 1 == labels {
                ("", names.event_type(cell))
            } else if k < labels {
                ("", cell.clone())
            } else if name.ends_with("p_value") {
                (" class=\"num\"", p_value_words(cell))
            } else {
                (" class=\"num\"", thousands(cell))
            };
            let _ = write!(h, "<td{class}>{}</td>", escape(&text));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n</table></div>\n");
}

/// A released number with thousands separators for reading: `7990140`
/// becomes `7,990,140`, `-1171.50` `-1,171.50`; `*` and text are kept.
fn thousands(cell: &str) -> String {
    let (sign, rest) = match cell.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", cell),
    };
    let (whole, frac) = rest
        .split_once('.')
        .map_or((rest, None), |(w, f)| (w, Some(f)));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return cell.to_string();
    }
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{out}.{f}"),
        None => format!("{sign}{out}"),
    }
}

/// "N people" in words, for a released count: `*` reads "fewer than 8".
fn people(cell: &str) -> String {
    count_cell_words(cell, "person", "people")
}

/// A sentence per event type, from the Total rows, on how many people's
/// use fell, stayed the same and rose (SPEC section 7), and the --within
/// shares.
fn change_sentences(
    h: &mut String,
    outcome: &Outcome,
    disclosure: Disclosure,
    header: &[String],
    cells: &[Vec<String>],
    total_rows: &[usize],
) {
    let col = |name: &str| header.iter().position(|c| c == name);
    let (Some(dec), Some(unc), Some(inc)) = (
        col("patients_decreased"),
        col("patients_unchanged"),
        col("patients_increased"),
    ) else {
        return;
    };
    h.push_str("<h2>Whose use changed</h2>\n<ul>\n");
    for &i in total_rows {
        let row = &cells[i];
        let t = escape(&outcome.report.rows[i].event_type);
        let patients = &row[col("patients").unwrap_or(0)];
        let _ = write!(
            h,
            "<li><strong>{t}.</strong> Of {}, {} had fewer {t} events after the intervention than before, {} the same number, and {} more.",
            people(patients),
            people(&row[dec]),
            people(&row[unc]),
            people(&row[inc])
        );
        for d in &outcome.report.within_days {
            if let Some(c) = col(&format!("pct_within_{d}d")) {
                let pct = &row[c];
                let share = if pct == "*" {
                    "a number too small to show".to_string()
                } else {
                    format!("{pct}%")
                };
                let _ = write!(
                    h,
                    " Within {d} days of it, {share} had at least one {t} event."
                );
            }
        }
        h.push_str("</li>\n");
    }
    if disclosure == Disclosure::Hes {
        h.push_str("<li>Counts are rounded to the nearest 5, and “fewer than 8” stands for a count from 1 to 7, which is not shown.</li>\n");
    }
    h.push_str("</ul>\n");
}

/// The comparison group: referred people and their matched controls before
/// and after, the difference-in-differences with its interval, and the
/// balance, in words (SPEC section 8).
fn comparison_section(
    h: &mut String,
    c: &Comparison,
    release: &Release,
    total_rows: &[usize],
    outcome: &Outcome,
    months: i32,
) {
    let table = &release.report;
    let cells = table.strings();
    let col = |name: &str| table.col(name);
    let per100 = |cell: &str| cell.parse::<f64>().ok().map(|x| (x * 100.0).round() as u64);
    h.push_str("<h2>Against a matched comparison group</h2>\n");
    let _ = writeln!(
        h,
        "<p>People are often referred when their need peaks, and their use of hospital care tends to fall afterwards whatever happens. To see past that, each referred person was matched with up to {} people from the ICB's registered population who were not referred by then, shared their {}, and had as nearly as possible the same use of each service in the {months} months before the referral date. Their use is counted over the same dates. The estimate compares the two groups' change from before to after, adjusted for any difference that remains before (a difference-in-differences with a regression adjustment). It assumes that the matched people show what would have happened to the referred people otherwise, as far as the matched characteristics and prior use can tell: people may still differ in ways the data do not record, such as motivation or support at home.</p>",
        c.wanted,
        if outcome.cohort.match_columns.is_empty() {
            "ICB".to_string()
        } else {
            // Matched characteristics in words: `age_band` reads "age band".
            escape(
                &outcome
                    .cohort
                    .match_columns
                    .iter()
                    .map(|c| outcome.labels.column(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    h.push_str("<div class=\"charts\">\n");
    let mut words = String::new();
    for &i in total_rows {
        let row = &cells[i];
        let t = escape(&outcome.report.rows[i].event_type);
        let get = |name: &str| col(name).map(|k| row[k].as_str()).unwrap_or("");
        let bars = vec![
            (
                "Referred people".to_string(),
                per100(get("case_pre_per_patient_matched")),
                per100(get("case_post_per_patient_matched")),
            ),
            (
                "Comparison group".to_string(),
                per100(get("control_pre_per_patient")),
                per100(get("control_post_per_patient")),
            ),
        ];
        let _ = writeln!(
            h,
            "<figure>{}<figcaption>{t}: events per 100 people in the {months} months before (blue) and after (green). * = suppressed.</figcaption></figure>",
            chart_svg(&format!("{t} per 100 people"), &bars)
        );
        let (did, lo, hi) = (
            get("did_per_patient"),
            get("did_ci_low"),
            get("did_ci_high"),
        );
        words.push_str(&estimate_words(&t, did, lo, hi));
    }
    h.push_str("</div>\n<ul>\n");
    h.push_str(&words);
    matching_words(h, release, months);
    h.push_str("<li>Matching uses only what the data records (the matching columns and prior use). People may still differ in ways it does not see, such as motivation or support at home.</li>\n</ul>\n");
}

/// The estimate for one event type in words: what the interval is
/// consistent with, never "the effect".
fn estimate_words(t: &str, did: &str, lo: &str, hi: &str) -> String {
    if did == "*" || did.is_empty() {
        return format!("<li><strong>{t}.</strong> The estimate rests on too few matched people to show.</li>\n");
    }
    let reading = match (lo.parse::<f64>(), hi.parse::<f64>()) {
        (Ok(_), Ok(u)) if u < 0.0 => "consistent with fewer events after referral than the matched people had, beyond the fall they show too",
        (Ok(l), Ok(_)) if l > 0.0 => "consistent with more events after referral than the matched people had",
        (Ok(_), Ok(_)) => "the interval includes 0, so the data are consistent with no difference from the matched people",
        _ => "too few matched people for an interval",
    };
    let interval = if lo.is_empty() || lo == "*" {
        String::new()
    } else {
        format!(" (95% interval {} to {})", escape(lo), escape(hi))
    };
    format!(
        "<li><strong>{t}.</strong> An estimated {} events per person{interval} compared with the matched people: {reading}.</li>\n",
        escape(did)
    )
}

/// The matching and balance, in words.
fn matching_words(h: &mut String, release: &Release, months: i32) {
    let total = |name: &str| total_cell(&release.report, name);
    let _ = writeln!(
        h,
        "<li><strong>Matching.</strong> Of {} with complete windows, {} were matched, with {} in all. Anyone without a possible control is left out of this comparison (the tables above keep them).</li>",
        people(&total("patients")),
        total("matched_cases"),
        count_cell_words(&total("controls"), "control", "controls")
    );
    let Some(balance) = &release.balance else {
        return;
    };
    for row in balance.strings() {
        let f = |x: &str| match x {
            "" => "0".to_string(),
            "*" => "not shown (too few matched people)".to_string(),
            v => escape(v),
        };
        let (t, when) = match row[0].rsplit_once('_') {
            Some((t, "prior")) => (t, format!("the {months} months before those")),
            Some((t, _)) => (t, format!("the {months} months before referral")),
            None => (row[0].as_str(), String::new()),
        };
        let _ = writeln!(
            h,
            "<li><strong>Balance, {} in {when}.</strong> Before matching, the referred people's use differed from that of the people they could have been matched with by a standardised mean difference of {}; after matching, from their controls' by {} (under 0.1 is usually taken as well balanced).</li>",
            escape(t),
            f(&row[2]),
            f(&row[3])
        );
    }
}

/// A column's cell in the report's first `Total` row.
fn total_cell(table: &Table, name: &str) -> String {
    let Some(c) = table.col(name) else {
        return String::new();
    };
    table
        .rows
        .iter()
        .find(|r| r[..table.labels - 1].iter().all(|l| l.text() == "Total"))
        .map(|r| r[c].text().to_string())
        .unwrap_or_default()
}

/// A released cell as "N things": `*` reads "fewer than 8".
fn count_cell_words(cell: &str, one: &str, many: &str) -> String {
    match cell {
        "*" => format!("fewer than 8 {many}"),
        "1" => format!("1 {one}"),
        n => format!("{} {many}", thousands(n)),
    }
}

/// A lone released count as "N things".
fn count_words(s: Shown, one: &str, many: &str) -> String {
    match s {
        Shown::Count(n) => count_cell_words(&n.to_string(), one, many),
        Shown::Withheld(_) => count_cell_words("*", one, many),
    }
}

/// The costs: a table per group and the return per pound in words.
fn costs_section(
    h: &mut String,
    costs: &Table,
    service_cost: Option<u64>,
    disclosure: Disclosure,
    months: i32,
) {
    let header = &costs.header;
    let cells = costs.strings();
    let groups = costs.labels;
    h.push_str("<h2>Costs before and after</h2>\n");
    let _ = writeln!(
        h,
        "<p>Each event is costed at a fixed unit cost per event type, and each group's costs are added up over the {months} months before and the {months} months after the first intervention.</p>"
    );
    h.push_str("<div class=\"table\"><table>\n<thead><tr>");
    for name in header {
        let _ = write!(h, "<th>{}</th>", escape(name).replace('_', "_<wbr>"));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    let last = cells.len().saturating_sub(1);
    for (i, row) in cells.iter().enumerate() {
        let class = if i == last { " class=\"total\"" } else { "" };
        let _ = write!(h, "<tr{class}>");
        for (k, cell) in row.iter().enumerate() {
            let num = if k >= groups { " class=\"num\"" } else { "" };
            let _ = write!(h, "<td{num}>{}</td>", escape(cell));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n</table></div>\n");
    if let Some(total) = cells.last() {
        let at = |name: &str| {
            header
                .iter()
                .position(|c| c == name)
                .map(|i| total[i].as_str())
                .unwrap_or("")
        };
        let (pre, post, saving) = (at("pre_cost"), at("post_cost"), at("saving_per_patient"));
        let service =
            service_cost.map(|s| thousands(&crate::relink::values::format_milli(i128::from(s), 2)));
        h.push_str("<ul>\n");
        // The estimate net of the comparison group leads when there is one.
        let (net, lo, hi) = (
            at("did_cost_per_patient"),
            at("did_cost_ci_low"),
            at("did_cost_ci_high"),
        );
        if !net.is_empty() {
            h.push_str(&net_cost_words(net, lo, hi, service.as_deref()));
        }
        if pre == "*" || post == "*" {
            h.push_str("<li>The total costs rest on counts too small to show, so they are not shown.</li>\n");
        } else {
            let _ = writeln!(
                h,
                "<li><strong>Before and after</strong> (the same people; a difference, not an effect): the events cost £{} before and £{} after: {} per patient.</li>",
                escape(&thousands(pre)),
                escape(&thousands(post)),
                match saving.strip_prefix('-') {
                    Some(more) => format!("£{} <em>more</em>", escape(&thousands(more))),
                    None => format!("£{} less", escape(&thousands(saving))),
                }
            );
        }
        if let Some(service) = &service {
            let _ = writeln!(
                h,
                "<li>The service costs £{service} per patient. A before-and-after difference is no return on it: people are often referred at a peak of need, and their use of hospital care tends to fall afterwards anyway{}.</li>",
                if net.is_empty() { "; a matched comparison group (--population) estimates what the service itself changed" } else { ", which is why the estimate above is made against the comparison group" }
            );
        }
        if disclosure == Disclosure::Hes {
            h.push_str("<li>Costs are computed from the counts as shown (rounded to 5), so that no cost reveals an exact small count; a cost that rests on a count from 1 to 7 is shown as *.</li>\n");
        }
        h.push_str("</ul>\n");
    }
}

const CSS: &str = "\
body{font-family:Arial,Helvetica,sans-serif;color:#212b32;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.5}
h1{color:#005eb8;font-size:1.8em}h2{border-bottom:2px solid #005eb8;padding-bottom:.2em;margin-top:1.6em}
.lead{font-size:1.15em}.warn{background:#fff4f4;border-left:6px solid #d5281b;padding:.6em 1em}
.charts{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0;border:1px solid #d8dde0;padding:.5em;background:#fff;max-width:100%;overflow-x:auto}
figcaption{font-size:.9em;color:#4c6272}
.table{overflow-x:auto}table{border-collapse:collapse;font-size:.9em;width:100%}th,td{border:1px solid #d8dde0;padding:.3em .5em;text-align:left}
th{background:#f0f4f5}td.num{text-align:right;font-variant-numeric:tabular-nums}tr.total td{font-weight:bold;background:#f7f9fa}
.meta{color:#4c6272;font-size:.85em;margin-top:2em}code{background:#f0f4f5;padding:0 .2em}
h3{margin-bottom:.3em}th{overflow-wrap:break-word}
@media print{body{max-width:none;margin:0;font-size:10pt}.charts{display:block}figure{break-inside:avoid;border:none;overflow:visible}table{font-size:8.5pt}tr,figure,li{break-inside:avoid}h2{break-after:avoid}.table{overflow:visible}}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands("7990140"), "7,990,140");
        assert_eq!(thousands("-1171.50"), "-1,171.50");
        assert_eq!(thousands("299.17"), "299.17");
        assert_eq!(thousands("100"), "100");
        assert_eq!(thousands("1000"), "1,000");
        assert_eq!(thousands("*"), "*");
        assert_eq!(thousands(""), "");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn chart_is_inline_svg_with_labels() {
        let svg = chart_svg(
            "AE events",
            &[
                ("Over 55s".into(), Some(1635), Some(1245)),
                ("<b>".into(), None, Some(10)),
            ],
        );
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.contains("1635") && svg.contains("1245"));
        assert!(!svg.contains("<b>"), "labels are escaped");
        assert!(
            !svg.contains("http://") || svg.contains("xmlns"),
            "no external references"
        );
    }
}
