//! The `Authorization` header of HTTP requests and WebSocket handshakes:
//! `Basic base64(originator:password)` (RFC 7617) or `Bearer <token>` (RFC 6750).

use base64::Engine;

use crate::verifier::AuthFailure;

#[derive(Debug, PartialEq, Eq)]
pub enum Presented {
    Basic { user: String, password: String },
    Bearer(String),
}

pub fn parse(value: &str) -> Result<Presented, AuthFailure> {
    let (scheme, rest) = value
        .trim()
        .split_once(' ')
        .ok_or(AuthFailure::Malformed("no scheme"))?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| AuthFailure::Malformed("Basic credentials are not base64"))?;
        let text = String::from_utf8(decoded)
            .map_err(|_| AuthFailure::Malformed("Basic credentials are not UTF-8"))?;
        let (user, password) = text.split_once(':').ok_or(AuthFailure::Malformed(
            "Basic credentials need user:password",
        ))?;
        Ok(Presented::Basic {
            user: user.to_owned(),
            password: password.to_owned(),
        })
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Ok(Presented::Bearer(rest.to_owned()))
    } else {
        Err(AuthFailure::Malformed(
            "only Basic and Bearer are supported",
        ))
    }
}

/// The header value for Basic credentials (clients, tests).
pub fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_and_bearer() {
        assert_eq!(
            parse(&basic("Cmeter", "pa:ss")).unwrap(),
            Presented::Basic {
                user: "Cmeter".into(),
                password: "pa:ss".into()
            }
        );
        assert_eq!(
            parse("bearer abc.def").unwrap(),
            Presented::Bearer("abc.def".into())
        );
        for bad in ["Basic", "Basic !!!", "Basic Zm9v", "Digest x", ""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
