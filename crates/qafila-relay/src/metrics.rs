//! Prometheus metrics, in the text exposition format at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), (u64, f64)>>,
    pub(crate) records_stored: AtomicU64,
    pub(crate) records_duplicate: AtomicU64,
    pub(crate) records_refused: AtomicU64,
    pub(crate) records_served: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
    pub(crate) bytes_served: AtomicU64,
}

impl Metrics {
    pub(crate) fn request(&self, route: &str, status: u16, seconds: f64) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let entry = requests
            .entry((route.to_owned(), status))
            .or_insert((0, 0.0));
        entry.0 += 1;
        entry.1 += seconds;
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            out,
            "# HELP qafila_relay_requests_total HTTP requests by route and status."
        );
        let _ = writeln!(out, "# TYPE qafila_relay_requests_total counter");
        for ((route, status), (count, _)) in requests.iter() {
            let _ = writeln!(
                out,
                "qafila_relay_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP qafila_relay_request_seconds_sum Time spent answering, by route and status."
        );
        let _ = writeln!(out, "# TYPE qafila_relay_request_seconds_sum counter");
        for ((route, status), (_, seconds)) in requests.iter() {
            let _ = writeln!(
                out,
                "qafila_relay_request_seconds_sum{{route=\"{route}\",status=\"{status}\"}} {seconds:.6}"
            );
        }
        for (name, help, counter) in [
            (
                "records_stored_total",
                "Records newly stored.",
                &self.records_stored,
            ),
            (
                "records_duplicate_total",
                "Records uploaded again (harmless retries).",
                &self.records_duplicate,
            ),
            (
                "records_refused_total",
                "Records refused (conflict, gap or forbidden).",
                &self.records_refused,
            ),
            (
                "records_served_total",
                "Records sent to devices.",
                &self.records_served,
            ),
            (
                "bytes_received_total",
                "Request body bytes received.",
                &self.bytes_received,
            ),
            (
                "bytes_served_total",
                "Record bytes sent to devices.",
                &self.bytes_served,
            ),
        ] {
            let _ = writeln!(out, "# HELP qafila_relay_{name} {help}");
            let _ = writeln!(out, "# TYPE qafila_relay_{name} counter");
            let _ = writeln!(
                out,
                "qafila_relay_{name} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        out
    }
}
