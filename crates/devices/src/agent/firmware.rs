//! Firmware images in the agent's state directory: `firmware/current` is the
//! installed image, `firmware/previous` the one before it. An update
//! downloads to `firmware/incoming`, checks its SHA-256, and only then swaps
//! it in by renames (atomic on one file system); a swapped-in image that
//! does not read back intact is rolled back to the previous one.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::Error;

/// What an update asks for, from the firmware mgmtObj's `url`: the image
/// location, and in its fragment the image's SHA-256 and version
/// (`http://host/meter-2.1.bin#sha256=<hex>&vr=2.1`).
#[derive(Debug, PartialEq, Eq)]
pub struct UpdateOrder {
    pub location: String,
    pub sha256: String,
    pub version: String,
}

impl UpdateOrder {
    /// Parse `url`; the version defaults to the mgmtObj's `fwn` when the
    /// fragment names none.
    pub fn parse(url: &str, fallback_version: &str) -> Result<UpdateOrder, Error> {
        let (location, fragment) = url.split_once('#').unwrap_or((url, ""));
        let field = |name: &str| {
            fragment
                .split('&')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .map(str::to_owned)
        };
        let sha256 = field("sha256")
            .map(|h| h.to_ascii_lowercase())
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| {
                Error::Firmware(format!(
                    "the image URL names no SHA-256 (#sha256=<64 hex digits>): {url}"
                ))
            })?;
        let version = field("vr").unwrap_or_else(|| fallback_version.to_owned());
        if version.is_empty() {
            return Err(Error::Firmware("the update names no version".into()));
        }
        Ok(UpdateOrder {
            location: location.to_owned(),
            sha256,
            version,
        })
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Write a file so that readers see the old content or the new, never a part.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |e: std::io::Error| Error::State(format!("{}: {e}", path.display()));
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

pub struct Images {
    dir: PathBuf,
}

impl Images {
    pub fn new(state_dir: &Path) -> Result<Images, Error> {
        let dir = state_dir.join("firmware");
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::State(format!("{}: {e}", dir.display())))?;
        Ok(Images { dir })
    }

    pub fn current(&self) -> PathBuf {
        self.dir.join("current")
    }

    fn previous(&self) -> PathBuf {
        self.dir.join("previous")
    }

    /// Put a factory image in place on a device's first start.
    pub fn ensure_factory(&self, version: &str) -> Result<(), Error> {
        if self.current().exists() {
            return Ok(());
        }
        write_atomically(
            &self.current(),
            format!("urbis factory firmware {version}\n").as_bytes(),
        )
    }

    /// Download, verify and install an image. On any failure the installed
    /// image is the one from before.
    pub async fn install(&self, http: &reqwest::Client, order: &UpdateOrder) -> Result<(), Error> {
        let fetch = |e: reqwest::Error| Error::Firmware(format!("download failed: {e}"));
        let answer = http
            .get(&order.location)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(fetch)?;
        let image = answer.bytes().await.map_err(fetch)?;
        let got = sha256_hex(&image);
        if got != order.sha256 {
            return Err(Error::Firmware(format!(
                "checksum mismatch: expected sha256 {}, the image has {got}",
                order.sha256
            )));
        }
        let incoming = self.dir.join("incoming");
        write_atomically(&incoming, &image)?;
        let io = |e: std::io::Error| Error::Firmware(format!("cannot swap images: {e}"));
        std::fs::rename(self.current(), self.previous()).map_err(io)?;
        std::fs::rename(&incoming, self.current()).map_err(io)?;
        let installed = std::fs::read(self.current()).map(|b| sha256_hex(&b));
        if installed.as_deref().ok() != Some(order.sha256.as_str()) {
            std::fs::rename(self.previous(), self.current()).map_err(io)?;
            return Err(Error::Firmware(
                "the installed image did not read back intact; rolled back".into(),
            ));
        }
        Ok(())
    }

    /// Factory reset: back to a factory image of `version`.
    pub fn reset(&self, version: &str) -> Result<(), Error> {
        let _ = std::fs::remove_file(self.previous());
        let _ = std::fs::remove_file(self.current());
        self.ensure_factory(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_orders_need_a_checksum() {
        let hash = "ab".repeat(32);
        let order = UpdateOrder::parse(&format!("http://h/f.bin#sha256={hash}&vr=2.1"), "x")
            .expect("valid");
        assert_eq!(order.location, "http://h/f.bin");
        assert_eq!(order.version, "2.1");
        let order = UpdateOrder::parse(&format!("http://h/f.bin#sha256={hash}"), "fw-3").unwrap();
        assert_eq!(order.version, "fw-3");
        assert!(UpdateOrder::parse("http://h/f.bin", "1").is_err());
        assert!(UpdateOrder::parse("http://h/f.bin#sha256=abc", "1").is_err());
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
