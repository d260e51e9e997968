//! What the store's test files share.

use std::io::Write;

/// The PostgreSQL database to test against (URBIS_TEST_DATABASE_URL; .ci/run
/// sets it), or `None` after a banner naming the tests (`what`) that did not
/// run: cargo does not swallow it, as it captures `eprintln!` but not the
/// stderr handle.
pub fn database_url(what: &str) -> Option<String> {
    match std::env::var("URBIS_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let rule = "!".repeat(78);
            let _ = writeln!(
                std::io::stderr(),
                "\n{rule}\n!! URBIS_TEST_DATABASE_URL not set: {what} did NOT run.\n\
                 !! Set it, e.g. postgres://postgres@127.0.0.1:5432/test (.ci/run does).\n{rule}\n"
            );
            None
        }
    }
}
