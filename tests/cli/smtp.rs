//! A real SMTP server on 127.0.0.1 (mailin-embedded) that records what it
//! receives and can be told to refuse, defer, stall or hang up.

use mailin_embedded::response::{self, Response};
use mailin_embedded::{Handler, Server};
use std::collections::HashMap;
use std::net::{IpAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One message as received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    /// MAIL FROM: the envelope sender.
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

/// A look at the world when a message's data has arrived.
pub(crate) type Observer = Box<dyn Fn() -> i64 + Send>;

/// How the server behaves; tests change it while it runs.
#[derive(Default)]
pub(crate) struct Behaviour {
    /// Replies to RCPT TO per address, used up one by one (then 250).
    pub rcpt_replies: HashMap<String, Vec<u16>>,
    /// After this many accepted messages, answer 421 and hang up.
    pub hang_up_after: Option<usize>,
    /// Wait this long before accepting each message.
    pub delay: Duration,
    /// Called as each message's data ends; what it returns is kept.
    pub on_data_end: Option<Observer>,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    connections: usize,
    behaviour: Behaviour,
    observed: Vec<i64>,
}

/// A running server.
pub(crate) struct SmtpServer {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

#[derive(Clone)]
struct Recorder {
    state: Arc<Mutex<State>>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Recorder {
    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        self.state.lock().unwrap().connections += 1;
        response::OK
    }

    fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> Response {
        let s = self.state.lock().unwrap();
        if s.behaviour
            .hang_up_after
            .is_some_and(|n| s.received.len() >= n)
        {
            return response::NO_SERVICE;
        }
        self.to.clear();
        self.from = from.to_owned();
        response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        let mut s = self.state.lock().unwrap();
        if let Some(replies) = s.behaviour.rcpt_replies.get_mut(to) {
            if !replies.is_empty() {
                let code = replies.remove(0);
                return Response::custom(code, format!("scripted reply {code} for {to}"));
            }
        }
        self.to.push(to.to_owned());
        response::OK
    }

    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        _to: &[String],
    ) -> Response {
        self.data.clear();
        response::START_DATA
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let delay = self.state.lock().unwrap().behaviour.delay;
        std::thread::sleep(delay);
        let mut s = self.state.lock().unwrap();
        if let Some(f) = &s.behaviour.on_data_end {
            let seen = f();
            s.observed.push(seen);
        }
        s.received.push(Received {
            from: self.from.clone(),
            to: self.to.clone(),
            data: std::mem::take(&mut self.data),
        });
        response::OK
    }
}

impl SmtpServer {
    /// Starts a server on a free port of 127.0.0.1.
    pub(crate) fn start() -> SmtpServer {
        SmtpServer::start_with(None)
    }

    /// Starts a server that offers STARTTLS with this certificate and key.
    pub(crate) fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> SmtpServer {
        SmtpServer::start_with(Some(mailin_embedded::SslConfig::SelfSigned {
            cert_path: cert.to_string_lossy().into_owned(),
            key_path: key.to_string_lossy().into_owned(),
        }))
    }

    fn start_with(ssl: Option<mailin_embedded::SslConfig>) -> SmtpServer {
        // Two crypto back ends are linked into the test binary; pick one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let handler = Recorder {
            state: state.clone(),
            from: String::new(),
            to: Vec::new(),
            data: Vec::new(),
        };
        let mut server = Server::new(handler);
        server
            .with_name("test.localhost")
            .with_num_threads(8)
            .with_tcp_listener(listener);
        if let Some(ssl) = ssl {
            server.with_ssl(ssl).expect("the test certificate loads");
        }
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        SmtpServer { port, state }
    }

    /// Changes how the server behaves from now on.
    pub(crate) fn set(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut self.state.lock().unwrap().behaviour);
    }

    /// Everything received so far.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// What `on_data_end` returned, message by message.
    pub(crate) fn observed(&self) -> Vec<i64> {
        self.state.lock().unwrap().observed.clone()
    }

    /// Connections opened so far.
    pub(crate) fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    /// How many messages each recipient got.
    pub(crate) fn copies(&self) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for r in self.received() {
            for to in r.to {
                *out.entry(to).or_insert(0) += 1;
            }
        }
        out
    }
}

/// A server that greets, offers AUTH and refuses every credential: the
/// one behaviour mailin-embedded will not show without TLS.
pub(crate) fn start_auth_refusing() -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let _ = stream.write_all(b"220 test.localhost ESMTP\r\n");
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    let cmd = line.to_ascii_uppercase();
                    let reply: &[u8] = if cmd.starts_with("EHLO") {
                        b"250-test.localhost\r\n250 AUTH PLAIN LOGIN\r\n"
                    } else if cmd.starts_with("AUTH") {
                        b"535 5.7.8 Authentication credentials invalid\r\n"
                    } else if cmd.starts_with("QUIT") {
                        let _ = stream.write_all(b"221 bye\r\n");
                        return;
                    } else {
                        b"503 5.5.1 Authenticate first\r\n"
                    };
                    if stream.write_all(reply).is_err() {
                        return;
                    }
                    line.clear();
                }
            });
        }
    });
    port
}

/// How a [`ScriptedRelay`] paces its replies.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pace {
    /// Wait this long before every reply but the one to the final dot.
    pub each_reply: Duration,
    /// Wait this long before answering the final dot. The message counts
    /// as received as soon as its dot arrives, as on a real relay, which
    /// has it queued whatever happens to the reply.
    pub final_reply: Duration,
}

/// A hand-written relay on 127.0.0.1 that answers every command slowly,
/// as relays under load do: mailin-embedded can only be slow after the
/// data, and only before it records the message.
pub(crate) struct ScriptedRelay {
    pub port: u16,
    received: Arc<Mutex<Vec<String>>>,
    connections: Arc<Mutex<usize>>,
}

impl ScriptedRelay {
    pub(crate) fn start(pace: Pace) -> ScriptedRelay {
        use std::io::{BufRead, BufReader, Write};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let (store, opened) = (received.clone(), connections.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                *opened.lock().unwrap() += 1;
                let store = store.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let say = |s: &mut std::net::TcpStream, text: &[u8], wait: Duration| {
                        std::thread::sleep(wait);
                        s.write_all(text).is_ok()
                    };
                    if !say(
                        &mut stream,
                        b"220 relay.localhost ESMTP\r\n",
                        pace.each_reply,
                    ) {
                        return;
                    }
                    let mut rcpt = Vec::new();
                    let mut line = String::new();
                    while reader.read_line(&mut line).unwrap_or(0) > 0 {
                        let cmd = line.to_ascii_uppercase();
                        let reply: &[u8] = if cmd.starts_with("EHLO") {
                            b"250-relay.localhost\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
                        } else if cmd.starts_with("RCPT") {
                            let to = line[line.find('<').unwrap_or(0) + 1..]
                                .split('>')
                                .next()
                                .unwrap_or("")
                                .to_owned();
                            rcpt.push(to);
                            b"250 2.1.5 ok\r\n"
                        } else if cmd.starts_with("DATA") {
                            if !say(&mut stream, b"354 go on\r\n", pace.each_reply) {
                                return;
                            }
                            let mut data = String::new();
                            loop {
                                data.clear();
                                if reader.read_line(&mut data).unwrap_or(0) == 0 {
                                    return;
                                }
                                if data == ".\r\n" {
                                    break;
                                }
                            }
                            store.lock().unwrap().append(&mut rcpt);
                            if !say(&mut stream, b"250 2.0.0 queued\r\n", pace.final_reply) {
                                return;
                            }
                            line.clear();
                            continue;
                        } else if cmd.starts_with("QUIT") {
                            let _ = stream.write_all(b"221 bye\r\n");
                            return;
                        } else {
                            // MAIL, RSET, NOOP
                            rcpt.retain(|_| !cmd.starts_with("MAIL") && !cmd.starts_with("RSET"));
                            b"250 ok\r\n"
                        };
                        if !say(&mut stream, reply, pace.each_reply) {
                            return;
                        }
                        line.clear();
                    }
                });
            }
        });
        ScriptedRelay {
            port,
            received,
            connections,
        }
    }

    /// Connections opened so far.
    pub(crate) fn connections(&self) -> usize {
        *self.connections.lock().unwrap()
    }

    /// How many messages each recipient got.
    pub(crate) fn copies(&self) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for to in self.received.lock().unwrap().iter() {
            *out.entry(to.clone()).or_insert(0) += 1;
        }
        out
    }
}
