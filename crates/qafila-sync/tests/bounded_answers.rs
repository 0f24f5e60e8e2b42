//! A relay that answers without end: the client reads no more than it
//! bounds (`client::MAX_ANSWER_BYTES`; a download, what it asked for plus
//! one record), refuses the answer with `relay_answer_too_large`, and hangs
//! up, so the relay could not push more than that plus what the sockets
//! buffer. A fake relay on loopback plays the hostile one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use qafila_proto::Uid;
use qafila_proto::batch::{Cursors, Fetch};
use qafila_proto::control::Hello;
use qafila_proto::record::{Record, RecordHeader, RecordKind};
use qafila_sync::SyncError;
use qafila_sync::client::{MAX_ANSWER_BYTES, RelayClient};
use qafila_sync::transport::Relay;

/// What the hostile relay tries to send in one answer.
const FLOOD: u64 = 200 << 20;

/// Serves forever on a loopback port: `hello` honestly, `heads` with a
/// body without end, `members` with a huge declared length,
/// `fetch` with valid record frames without end. Counts the bytes it
/// managed to write into `sent`.
fn hostile_relay(sent: Arc<AtomicU64>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let sent = sent.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let mut body = vec![0u8; length];
                let _ = reader.read_exact(&mut body);
                let path = head
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                if path == "/v1/hello" {
                    let hello = serde_json::to_vec(&Hello {
                        relay: Uid([7; 16]),
                        time_ms: u64::try_from(
                            std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .unwrap()
                                .as_millis(),
                        )
                        .unwrap(),
                        protocol: qafila_proto::VERSION,
                    })
                    .unwrap();
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        hello.len()
                    );
                    let _ = stream.write_all(&hello);
                    return;
                }
                let declared = path.ends_with("/members");
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/x-qafila\r\n{}Connection: close\r\n\r\n",
                    if declared {
                        format!("Content-Length: {FLOOD}\r\n")
                    } else {
                        String::new()
                    }
                );
                let piece = if path.ends_with("/fetch") {
                    let record = Record {
                        header: RecordHeader {
                            scope: Uid([1; 16]),
                            device: Uid([2; 16]),
                            seq: 1,
                            epoch: 1,
                            kind: RecordKind::Log,
                        },
                        ciphertext: vec![9; 60_000],
                    };
                    let mut frame = vec![1u8];
                    frame.extend_from_slice(&record.encode());
                    let mut piece = qafila_proto::batch::stream_start();
                    piece.extend_from_slice(&frame);
                    // The stream start only once: later pieces are frames.
                    let _ = stream.write_all(&piece);
                    sent.fetch_add(piece.len() as u64, Ordering::Relaxed);
                    frame
                } else {
                    vec![0u8; 64 << 10]
                };
                while sent.load(Ordering::Relaxed) < FLOOD {
                    if stream.write_all(&piece).is_err() {
                        return;
                    }
                    sent.fetch_add(piece.len() as u64, Ordering::Relaxed);
                }
            });
        }
    });
    url
}

fn client(url: &str) -> RelayClient {
    let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    RelayClient::new(url, Uid([4; 16]), key).unwrap()
}

fn too_large(result: Result<impl std::fmt::Debug, SyncError>) -> u64 {
    match result {
        Err(SyncError::AnswerTooLarge { limit, .. }) => limit,
        other => panic!("expected relay_answer_too_large, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_without_end_is_cut_at_the_bound() {
    let sent = Arc::new(AtomicU64::new(0));
    let url = hostile_relay(sent.clone());
    let limit = too_large(client(&url).heads(Uid([5; 16])).await);
    assert_eq!(limit, MAX_ANSWER_BYTES);
    let pushed = sent.load(Ordering::Relaxed);
    assert!(
        pushed < MAX_ANSWER_BYTES + (32 << 20),
        "the client hung up: the relay pushed {pushed} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_declared_too_large_is_refused_unread() {
    let sent = Arc::new(AtomicU64::new(0));
    let url = hostile_relay(sent.clone());
    // The member list comes with a declared length past the bound.
    too_large(client(&url).members(Uid([5; 16])).await);
    let pushed = sent.load(Ordering::Relaxed);
    assert!(
        pushed < MAX_ANSWER_BYTES,
        "refused before reading: the relay pushed only what sockets buffer ({pushed} bytes)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_without_end_is_cut_after_what_was_asked_and_one_record() {
    let sent = Arc::new(AtomicU64::new(0));
    let url = hostile_relay(sent.clone());
    let mut received = 0u64;
    let mut sink = |records: Vec<Record>| {
        received += records.len() as u64;
        Ok(())
    };
    let fetch = Fetch {
        max_bytes: 1 << 20,
        cursors: Cursors(Vec::new()),
    };
    let limit = too_large(client(&url).fetch(Uid([5; 16]), &fetch, &mut sink).await);
    assert!(limit < 10 << 20, "one MiB asked, one record more: {limit}");
    assert!(received > 0, "what arrived whole was handed over");
    let pushed = sent.load(Ordering::Relaxed);
    assert!(
        pushed < u64::from(fetch.max_bytes) + limit + (32 << 20),
        "the client hung up: the relay pushed {pushed} bytes"
    );
}
