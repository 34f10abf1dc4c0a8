//! A real SMTP listener on 127.0.0.1:0 for tests: the minimal dialogue, plain text, with
//! behaviours for refusing logins and for never answering.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// What the listener saw in one SMTP session.
#[derive(Debug, Default)]
pub struct Session {
    pub mail_from: Option<String>,
    pub rcpt_to: Vec<String>,
    /// The DATA section, dot-unstuffed, lines joined with `\n`.
    pub data: String,
    pub quit: bool,
}

#[derive(Clone, Copy)]
pub enum Behaviour {
    /// Accepts every message.
    Accept,
    /// Advertises AUTH and refuses every login with this reply.
    RejectLogin(&'static str),
    /// Accepts the connection and never says a word.
    Silent,
}

/// Binds 127.0.0.1:0 first, then serves connections one after another; each session arrives
/// when it ends.
pub async fn smtp_listener(behaviour: Behaviour) -> (SocketAddr, mpsc::UnboundedReceiver<Session>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let address = listener.local_addr().expect("has an address");
    let (done, session) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let done = done.clone();
            serve(stream, behaviour, done).await;
        }
    });
    (address, session)
}

async fn serve(
    stream: tokio::net::TcpStream,
    behaviour: Behaviour,
    done: mpsc::UnboundedSender<Session>,
) {
    {
        if let Behaviour::Silent = behaviour {
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(stream);
            return;
        }
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut seen = Session::default();
        write
            .write_all(b"220 test.invalid ESMTP ready\r\n")
            .await
            .expect("greets");
        while let Ok(Some(line)) = lines.next_line().await {
            let upper = line.to_ascii_uppercase();
            let reply: &str = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                match behaviour {
                    Behaviour::RejectLogin(_) => "250-test.invalid\r\n250 AUTH PLAIN LOGIN\r\n",
                    _ => "250 test.invalid\r\n",
                }
            } else if upper.starts_with("AUTH") {
                match behaviour {
                    Behaviour::RejectLogin(reply) => reply,
                    _ => "502 5.5.1 no AUTH here\r\n",
                }
            } else if upper.starts_with("MAIL FROM:") {
                seen.mail_from = Some(angle_address(&line));
                "250 2.1.0 ok\r\n"
            } else if upper.starts_with("RCPT TO:") {
                seen.rcpt_to.push(angle_address(&line));
                "250 2.1.5 ok\r\n"
            } else if upper == "DATA" {
                write
                    .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                    .await
                    .expect("writes");
                let mut data = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line == "." {
                        break;
                    }
                    data.push(line.strip_prefix('.').unwrap_or(&line).to_owned());
                }
                seen.data = data.join("\n");
                "250 2.0.0 queued\r\n"
            } else if upper == "QUIT" {
                seen.quit = true;
                write.write_all(b"221 2.0.0 bye\r\n").await.expect("writes");
                break;
            } else if upper == "RSET" || upper == "NOOP" {
                "250 2.0.0 ok\r\n"
            } else {
                "502 5.5.2 not implemented\r\n"
            };
            if write.write_all(reply.as_bytes()).await.is_err() {
                break;
            }
        }
        let _ = done.send(seen);
    }
}

/// `MAIL FROM:<a@b> SIZE=1` → `a@b`.
pub fn angle_address(line: &str) -> String {
    let start = line.find('<').map_or(0, |i| i + 1);
    let end = line.find('>').unwrap_or(line.len());
    line[start..end].to_owned()
}
