//! Server-rendered SVG charts (no script, no inline style: the strict CSP stays as it is; colours
//! come from classes in `static/kasa.css`). Each chart scales to its container's width through
//! its `viewBox`, so it stays readable on a phone; the page puts the same numbers in a table.
//!
//! Pure: numbers in, SVG text out. Labels are given already formatted; every text is escaped.

use std::fmt::Write;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 8.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 36.0;

/// One point of a line chart: the label under it, its value (minor units) and that value as
/// people read it (written next to the highest and the lowest point).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    pub label: String,
    pub value: i64,
    pub value_label: String,
}

/// One group of a bar chart: the label under it, income and expenses (minor units, both ≥ 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub label: String,
    pub income: i64,
    pub expenses: i64,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The vertical scale: maps a value to a y coordinate, zero included in the range.
struct Scale {
    min: f64,
    max: f64,
}

impl Scale {
    fn of(values: impl Iterator<Item = i64>) -> Scale {
        let (mut min, mut max) = (0.0_f64, 0.0_f64);
        for v in values {
            min = min.min(v as f64);
            max = max.max(v as f64);
        }
        if max - min < 1.0 {
            max = min + 1.0;
        }
        Scale { min, max }
    }

    fn y(&self, value: i64) -> f64 {
        let plot = HEIGHT - TOP - BOTTOM;
        TOP + plot * (1.0 - (value as f64 - self.min) / (self.max - self.min))
    }
}

fn open(out: &mut String, title: &str, class: &str) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart {class}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         role=\"img\" aria-label=\"{}\" preserveAspectRatio=\"xMidYMid meet\"><title>{}</title>",
        escape(title),
        escape(title)
    );
}

/// How a text at item `i` of `n` is anchored: the first starts at its item and the last ends
/// there, so neither is cut off at the chart's edge.
fn anchor(i: usize, n: usize) -> &'static str {
    if i == 0 && n > 1 {
        "start"
    } else if i + 1 == n && n > 1 {
        "end"
    } else {
        "middle"
    }
}

/// Labels under the x axis: every one when few, otherwise about six evenly spread (a phone's
/// width holds no more).
fn labels(out: &mut String, names: &[&str], x_of: impl Fn(usize) -> f64) {
    let step = names.len().div_ceil(6).max(1);
    for (i, name) in names.iter().enumerate() {
        if i % step == 0 {
            let _ = write!(
                out,
                "<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{}\">{}</text>",
                x_of(i),
                HEIGHT - 10.0,
                anchor(i, names.len()),
                escape(name)
            );
        }
    }
}

/// A line chart with one `<circle class="point">` per point (in order) and the zero line.
pub fn line(title: &str, points: &[Point]) -> String {
    let mut out = String::new();
    open(&mut out, title, "line-chart");
    let scale = Scale::of(points.iter().map(|p| p.value));
    let plot = WIDTH - LEFT - RIGHT;
    let x_of = |i: usize| {
        if points.len() <= 1 {
            LEFT + plot / 2.0
        } else {
            LEFT + plot * i as f64 / (points.len() - 1) as f64
        }
    };
    let zero = scale.y(0);
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{zero:.1}\" y2=\"{zero:.1}\"/>",
        WIDTH - RIGHT
    );
    if points.len() > 1 {
        let path: Vec<String> = points
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{:.1},{:.1}", x_of(i), scale.y(p.value)))
            .collect();
        let _ = write!(
            out,
            "<polyline class=\"series\" fill=\"none\" points=\"{}\"/>",
            path.join(" ")
        );
    }
    for (i, p) in points.iter().enumerate() {
        let _ = write!(
            out,
            "<circle class=\"point\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\"/>",
            x_of(i),
            scale.y(p.value)
        );
    }
    // The highest point's value above it, the lowest one's below it.
    let highest = points.iter().enumerate().max_by_key(|(_, p)| p.value);
    let lowest = points.iter().enumerate().min_by_key(|(_, p)| p.value);
    for (found, dy) in [(highest, -10.0), (lowest, 24.0)] {
        if let Some((i, p)) = found {
            let _ = write!(
                out,
                "<text class=\"value\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{}\">{}</text>",
                x_of(i),
                (scale.y(p.value) + dy).clamp(18.0, HEIGHT - BOTTOM),
                anchor(i, points.len()),
                escape(&p.value_label)
            );
        }
        if points.len() < 2 {
            break;
        }
    }
    let names: Vec<&str> = points.iter().map(|p| p.label.as_str()).collect();
    labels(&mut out, &names, x_of);
    out.push_str("</svg>");
    out
}

/// A bar chart with two bars per group: `<rect class="bar income">` and
/// `<rect class="bar expenses">` (one of each per group, in order; a zero is a bar of no
/// height).
pub fn bars(title: &str, groups: &[Pair]) -> String {
    let mut out = String::new();
    open(&mut out, title, "bar-chart");
    let scale = Scale::of(groups.iter().flat_map(|g| [g.income, g.expenses]));
    let plot = WIDTH - LEFT - RIGHT;
    let slot = plot / groups.len().max(1) as f64;
    let bar = (slot * 0.4).min(24.0);
    let x_of = |i: usize| LEFT + slot * (i as f64 + 0.5);
    let zero = scale.y(0);
    for (i, g) in groups.iter().enumerate() {
        for (class, value, dx) in [("income", g.income, -bar), ("expenses", g.expenses, 0.0)] {
            let top = scale.y(value);
            let _ = write!(
                out,
                "<rect class=\"bar {class}\" x=\"{:.1}\" y=\"{top:.1}\" width=\"{bar:.1}\" height=\"{:.1}\"/>",
                x_of(i) + dx,
                (zero - top).max(0.0)
            );
        }
    }
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{zero:.1}\" y2=\"{zero:.1}\"/>",
        WIDTH - RIGHT
    );
    let names: Vec<&str> = groups.iter().map(|g| g.label.as_str()).collect();
    labels(&mut out, &names, x_of);
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(label: &str, value: i64) -> Point {
        Point {
            label: label.into(),
            value,
            value_label: format!("{value} Kč"),
        }
    }

    #[test]
    fn a_line_has_one_point_per_value_and_escapes_its_texts() {
        let svg = line(
            "Zůstatek <účtu>",
            &[point("1/26", 100), point("2/26", -50), point("3/26", 300)],
        );
        assert_eq!(svg.matches("<circle class=\"point\"").count(), 3);
        assert!(svg.contains("&lt;účtu&gt;"));
        assert!(
            svg.contains(">300 Kč<") && svg.contains(">-50 Kč<"),
            "{svg}"
        );
        assert!(
            !svg.contains("style="),
            "no inline style under the strict CSP"
        );
    }

    #[test]
    fn bars_come_in_pairs_and_the_biggest_reaches_the_top() {
        let groups = [
            Pair {
                label: "1/26".into(),
                income: 1000,
                expenses: 0,
            },
            Pair {
                label: "2/26".into(),
                income: 200,
                expenses: 500,
            },
        ];
        let svg = bars("Příjmy a výdaje", &groups);
        assert_eq!(svg.matches("class=\"bar income\"").count(), 2);
        assert_eq!(svg.matches("class=\"bar expenses\"").count(), 2);
        assert!(svg.contains(&format!("y=\"{TOP:.1}\"")));
    }
}
