//! The `urbis` binary in tests: one place that starts `urbis serve` and reads
//! the line it prints once it listens.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `urbis serve`, killed when dropped so that a failing test
/// leaves no process behind.
pub struct Server {
    pub child: Child,
    /// The HTTP base URL from the listening line, e.g. `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary with a quiet log, ready for arguments.
pub fn urbis() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_urbis"));
    command.env("URBIS_LOG_LEVEL", "warn");
    command
}

/// Spawn `command` (an `urbis serve ...`) and wait until it listens.
pub fn start(mut command: Command) -> Server {
    let mut child = command.stdout(Stdio::piped()).spawn().expect("start urbis");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the listening line");
    let Some(base) = line.trim().strip_prefix("urbis listening on ") else {
        let _ = child.kill();
        panic!("urbis printed no listening line: {line:?}");
    };
    let base = base.to_owned();
    Server { child, base }
}
