//! A loopback TCP proxy in front of a chain's JSON-RPC, switched by the test between
//! forwarding and the ways an endpoint fails: refusing connections, answering HTTP errors,
//! and accepting requests it never answers. Switching away from forwarding also cuts the
//! connections already open, as a crashed endpoint would.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the proxy does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Mode {
    /// Forwards to the chain.
    Up = 0,
    /// Closes every connection at once (a process that is gone).
    Refuse = 1,
    /// Answers every request `503 Service Unavailable`.
    Error = 2,
    /// Accepts and never answers (a hung endpoint: the client times out).
    Hang = 3,
}

/// A running proxy; it stops with the test process.
pub(crate) struct Proxy {
    /// Where clients connect.
    pub(crate) port: u16,
    mode: Arc<AtomicU8>,
}

impl Proxy {
    /// A proxy on a free loopback port, forwarding to `target` on loopback.
    pub(crate) fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(Mode::Up as u8));
        let shared = mode.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mode = shared.clone();
                std::thread::spawn(move || serve(stream, target, &mode));
            }
        });
        Self { port, mode }
    }

    /// Switches what it does from now on.
    pub(crate) fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }
}

fn mode(shared: &AtomicU8) -> u8 {
    shared.load(Ordering::SeqCst)
}

fn serve(client: TcpStream, target: u16, shared: &Arc<AtomicU8>) {
    let at_accept = mode(shared);
    if at_accept == Mode::Refuse as u8 {
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    if at_accept == Mode::Error as u8 {
        let mut client = client;
        let _ = client.set_read_timeout(Some(Duration::from_millis(200)));
        let mut buf = [0u8; 8192];
        let _ = client.read(&mut buf);
        let _ = client.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    if at_accept == Mode::Hang as u8 {
        // Hold the connection, unanswered, until the test switches the mode.
        while mode(shared) == Mode::Hang as u8 {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", target)) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let pumps = [
        (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
        (upstream, client),
    ];
    let handles: Vec<_> = pumps
        .into_iter()
        .map(|(from, to)| {
            let shared = shared.clone();
            std::thread::spawn(move || pump(from, to, &shared))
        })
        .collect();
    for handle in handles {
        let _ = handle.join();
    }
}

/// Copies `from` to `to` while the proxy forwards; cuts both once it does not.
fn pump(mut from: TcpStream, mut to: TcpStream, shared: &AtomicU8) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 16 * 1024];
    loop {
        if mode(shared) != Mode::Up as u8 {
            break;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
