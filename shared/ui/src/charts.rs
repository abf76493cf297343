//! Charts drawn on the server as SVG: one value per label (a day, a run) as bars, with an
//! optional baseline across them. The geometry is a pure function of the values; the SVG is a
//! template (`templates/chart.html`) a page renders with `{{ chart|safe }}`. Each chart names
//! itself for screen readers and carries its numbers in a table they can read.

use askama::Template;

/// The drawing's size in SVG units; it scales to its container's width.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
/// Room for the value scale on the left and the labels below.
const LEFT: f64 = 56.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;
/// At most this many labels under the bars, so they never overlap.
const MAX_LABELS: usize = 8;

/// A chart as a page builds it.
pub struct BarChart {
    /// What the chart shows, in words ("Failure rate per day, last 7 days"): its accessible name.
    pub title: String,
    /// One bar per label, in order.
    pub bars: Vec<(String, f64)>,
    /// A level drawn across the bars (a scenario's baseline), when there is one.
    pub baseline: Option<f64>,
    /// What follows each number when it is shown ("%", " credits"); empty for plain counts.
    pub unit: &'static str,
}

impl BarChart {
    pub fn new(title: impl Into<String>, bars: Vec<(String, f64)>) -> Self {
        Self {
            title: title.into(),
            bars,
            baseline: None,
            unit: "",
        }
    }

    pub fn with_baseline(mut self, baseline: Option<f64>) -> Self {
        self.baseline = baseline;
        self
    }

    pub fn with_unit(mut self, unit: &'static str) -> Self {
        self.unit = unit;
        self
    }

    /// The chart ready to render.
    pub fn draw(&self) -> Svg {
        let values: Vec<f64> = self.bars.iter().map(|(_, v)| *v).collect();
        let geometry = geometry(&values, self.baseline);
        let label_every = self.bars.len().div_ceil(MAX_LABELS).max(1);
        let bars = self
            .bars
            .iter()
            .zip(&geometry.bars)
            .enumerate()
            .map(|(i, ((label, value), at))| DrawnBar {
                x: round(at.x),
                y: round(at.y),
                width: round(at.width),
                height: round(at.height),
                label_x: round(at.x + at.width / 2.0),
                show_label: i % label_every == 0,
                label: label.clone(),
                value: format!("{}{}", number(*value), self.unit),
            })
            .collect();
        Svg {
            title: self.title.clone(),
            width: WIDTH,
            height: HEIGHT,
            left: LEFT,
            right: WIDTH - RIGHT,
            top: TOP,
            bottom: HEIGHT - BOTTOM,
            label_y: HEIGHT - 8.0,
            // The scale's numbers go without the unit: the title names it, and the margin is narrow.
            scale_top: number(geometry.scale_top),
            bars,
            baseline: geometry
                .baseline_y
                .zip(self.baseline)
                .map(|(y, value)| (round(y), format!("baseline {}{}", number(value), self.unit))),
        }
    }
}

/// The SVG of a chart, with its numbers as a table for screen readers.
#[derive(Template)]
#[template(path = "chart.html")]
pub struct Svg {
    title: String,
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    label_y: f64,
    scale_top: String,
    bars: Vec<DrawnBar>,
    /// The baseline's height and its words.
    baseline: Option<(f64, String)>,
}

struct DrawnBar {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
    label_x: f64,
    show_label: bool,
    label: String,
    value: String,
}

/// Where each bar and the baseline go inside the drawing.
#[derive(Debug, Clone, PartialEq)]
pub struct Geometry {
    pub bars: Vec<BarGeometry>,
    pub baseline_y: Option<f64>,
    /// The value at the top of the scale: a round number at or above every value and the baseline.
    pub scale_top: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BarGeometry {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// The bars' rectangles and the baseline's height for `values`. Values below zero, and values
/// that are no number at all, are drawn as zero: the charts show counts, rates and credits.
pub fn geometry(values: &[f64], baseline: Option<f64>) -> Geometry {
    let clean = |v: f64| if v.is_finite() { v.max(0.0) } else { 0.0 };
    let highest = values
        .iter()
        .copied()
        .chain(baseline)
        .map(clean)
        .fold(0.0, f64::max);
    let scale_top = round_up(highest);
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let y_of = |v: f64| TOP + plot_height * (1.0 - clean(v) / scale_top);
    let slot = plot_width / values.len().max(1) as f64;
    let width = (slot * 0.7).max(1.0);
    let bars = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let y = y_of(*v);
            BarGeometry {
                x: LEFT + slot * i as f64 + (slot - width) / 2.0,
                y,
                width,
                height: HEIGHT - BOTTOM - y,
            }
        })
        .collect();
    Geometry {
        bars,
        baseline_y: baseline.map(y_of),
        scale_top,
    }
}

/// The smallest of 1, 2 or 5 times a power of ten at or above `value` (1 for nothing to show).
fn round_up(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * power)
        .find(|top| *top >= value)
        .unwrap_or(10.0 * power)
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// A number as a chart shows it: whole numbers plain, others to two places at most.
pub fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.2}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_tops_at_a_round_number_above_the_highest_value() {
        assert_eq!(round_up(0.0), 1.0);
        assert_eq!(round_up(0.3), 0.5);
        assert_eq!(round_up(1.0), 1.0);
        assert_eq!(round_up(7.0), 10.0);
        assert_eq!(round_up(120.0), 200.0);
        assert_eq!(round_up(f64::NAN), 1.0);
        assert_eq!(round_up(3e300), 5e300);
    }

    #[test]
    fn the_highest_bar_reaches_its_share_of_the_scale_and_zero_bars_have_no_height() {
        let drawn = geometry(&[0.0, 5.0, 10.0], None);
        assert_eq!(drawn.scale_top, 10.0);
        assert_eq!(drawn.bars[0].height, 0.0);
        assert_eq!(drawn.bars[2].y, TOP);
        assert!((drawn.bars[1].height - (HEIGHT - TOP - BOTTOM) / 2.0).abs() < 1e-9);
        assert!(drawn.bars.windows(2).all(|w| w[0].x < w[1].x));
        assert_eq!(drawn.baseline_y, None);
    }

    #[test]
    fn the_baseline_counts_toward_the_scale() {
        let drawn = geometry(&[1.0], Some(40.0));
        assert_eq!(drawn.scale_top, 50.0);
        let baseline = drawn.baseline_y.unwrap_or_default();
        assert!(baseline > TOP && baseline < drawn.bars[0].y);
    }

    #[test]
    fn nothing_one_point_and_odd_values_still_draw_inside_the_frame() {
        assert!(geometry(&[], None).bars.is_empty());
        let one = geometry(&[3.0], None);
        assert_eq!(one.bars.len(), 1);
        assert!(one.bars[0].x >= LEFT && one.bars[0].x + one.bars[0].width <= WIDTH - RIGHT);
        let odd = geometry(&[-4.0, f64::INFINITY, f64::NAN, 1e308], None);
        for bar in &odd.bars {
            assert!(bar.y.is_finite() && bar.height >= 0.0 && bar.y >= TOP);
        }
        assert_eq!(odd.bars[0].height, 0.0);
    }

    #[test]
    fn many_bars_stay_visible_and_labels_thin_out() {
        let values: Vec<(String, f64)> = (0..500).map(|i| (format!("r{i}"), 1.0)).collect();
        let svg = BarChart::new("Credits per run", values).draw();
        assert!(svg.bars.iter().all(|b| b.width >= 1.0));
        assert!(svg.bars.iter().filter(|b| b.show_label).count() <= MAX_LABELS);
    }

    #[test]
    fn a_chart_names_itself_and_lists_its_numbers() -> Result<(), askama::Error> {
        let chart = BarChart::new(
            "Credits per run against the baseline",
            vec![("run 1".into(), 12.5), ("run 2".into(), 30.0)],
        )
        .with_baseline(Some(20.0))
        .with_unit(" credits");
        let html = chart.draw().render()?;
        assert!(html.contains(r#"role="img""#));
        assert!(html.contains(r#"aria-label="Credits per run against the baseline""#));
        assert!(html.contains("12.5 credits"));
        assert!(html.contains("baseline 20 credits"));
        assert!(html.contains("<table"));
        let empty = BarChart::new("Failure rate per day", Vec::new())
            .draw()
            .render()?;
        assert!(empty.contains("No data"));
        assert!(!empty.contains("<svg"));
        Ok(())
    }

    #[test]
    fn numbers_read_plainly() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(0.126), "0.13");
        assert_eq!(number(1e20), "100000000000000000000");
    }
}
