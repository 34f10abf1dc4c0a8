//! Request metrics in Prometheus text format: counts by route, method and status, and a
//! latency histogram by route. Routes are the matched patterns (`/api/v1/api-keys/{id}`),
//! never raw paths, so the number of series stays bounded.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<BTreeMap<String, RouteMetrics>>,
}

/// One route's figures. A route sees a handful of (method, status) pairs, so a short list
/// searched in place is enough; nothing is allocated once a pair has been seen.
#[derive(Default)]
struct RouteMetrics {
    requests: Vec<(String, u16, u64)>,
    latency: Histogram,
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Metrics {
    pub fn record(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let mut routes = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let figures = match routes.get_mut(route) {
            Some(figures) => figures,
            None => routes.entry(route.to_string()).or_default(),
        };
        match figures
            .requests
            .iter_mut()
            .find(|(m, s, _)| m == method && *s == status)
        {
            Some((_, _, count)) => *count += 1,
            None => figures.requests.push((method.to_string(), status, 1)),
        }
        let histogram = &mut figures.latency;
        let seconds = elapsed.as_secs_f64();
        for (bucket, bound) in histogram.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        histogram.sum += seconds;
        histogram.count += 1;
    }

    pub fn render(&self) -> String {
        let routes = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str(
            "# HELP tollgate_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE tollgate_http_requests_total counter\n");
        for (route, figures) in routes.iter() {
            let route = escape(route);
            let mut requests: Vec<_> = figures.requests.iter().collect();
            requests.sort();
            for (method, status, count) in requests {
                let _ = writeln!(
                    out,
                    "tollgate_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {count}"
                );
            }
        }
        out.push_str(
            "# HELP tollgate_http_request_duration_seconds HTTP request latency by route.\n",
        );
        out.push_str("# TYPE tollgate_http_request_duration_seconds histogram\n");
        for (route, figures) in routes.iter() {
            let route = escape(route);
            let histogram = &figures.latency;
            for (bound, count) in BUCKETS.iter().zip(histogram.buckets) {
                let _ = writeln!(
                    out,
                    "tollgate_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "tollgate_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "tollgate_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                histogram.sum
            );
            let _ = writeln!(
                out,
                "tollgate_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                histogram.count
            );
        }
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_and_timed_per_route() {
        let metrics = Metrics::default();
        metrics.record("/healthz", "GET", 200, Duration::from_millis(2));
        metrics.record("/healthz", "GET", 200, Duration::from_millis(20));
        let text = metrics.render();
        assert!(text.contains(
            "tollgate_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "tollgate_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.0025\"} 1"
        ));
        assert!(text.contains(
            "tollgate_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"+Inf\"} 2"
        ));
        assert!(
            text.contains("tollgate_http_request_duration_seconds_count{route=\"/healthz\"} 2")
        );
    }
}
