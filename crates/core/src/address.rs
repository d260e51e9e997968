//! Addressing (TS-0001 §7.2, TS-0004 §6.2.3): turning a request's `to` into a local
//! resource, and originators into their CSE-relative form.

use urbis_model::{CseError, CseResult, Resource, ResourceType, Rsc};
use urbis_store::ReadTxn;

use crate::config::CseConfig;

/// A virtual child addressed below a real resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Virtual {
    /// `la`: the latest instance of a container.
    Latest,
    /// `ol`: the oldest instance.
    Oldest,
    /// `fopt`: fan-out to every group member, with the path below `fopt`.
    FanOut(String),
    /// `pcu`: the long-polling point of a pollingChannel.
    PollingUri,
}

/// Where a request goes.
#[derive(Clone, Debug)]
pub struct Located {
    pub resource: Resource,
    pub virtual_child: Option<Virtual>,
}

/// Reduce an SP-relative or absolute `to` to a CSE-relative one, or fail with
/// TARGET_NOT_REACHABLE when it names another CSE or service provider.
pub fn to_cse_relative<'a>(to: &'a str, config: &'a CseConfig) -> CseResult<&'a str> {
    let to = to.trim_end_matches('/');
    let unreachable = || {
        CseError::new(
            Rsc::TargetNotReachable,
            format!("{to} is not hosted by this CSE"),
        )
    };
    let bare_cse = config.cse_id_bare();
    let rest = if let Some(absolute) = to.strip_prefix("//") {
        let (sp, rest) = absolute.split_once('/').unwrap_or((absolute, ""));
        if sp != config.sp_id {
            // no routes to other service providers are configured
            return Err(CseError::not_found(format!(
                "{to}: unknown service provider {sp}"
            )));
        }
        rest
    } else if let Some(sp_relative) = to.strip_prefix('/') {
        sp_relative
    } else {
        return Ok(to);
    };
    let (csi, rest) = rest.split_once('/').unwrap_or((rest, ""));
    if csi != bare_cse {
        return Err(unreachable());
    }
    // `/id-in` alone addresses the CSEBase by its resource ID.
    Ok(if rest.is_empty() { bare_cse } else { rest })
}

/// Whether `to` is only a CSE-ID (`/id-in`, `//sp/id-in`): an entity, not a
/// resource. Resource operations need a resource address (TS-0004 §6.2.3).
pub fn is_bare_cse_id(to: &str, config: &CseConfig) -> bool {
    let sp_relative = match to.strip_prefix("//") {
        Some(absolute) => match absolute.split_once('/') {
            Some((_, rest)) => format!("/{rest}"),
            None => return false,
        },
        None => to.to_owned(),
    };
    sp_relative == config.cse_id
}

/// The CSE-relative form of an originator of this CSE (`/id-in/Cae` → `Cae`).
pub fn normalize_originator(fr: &str, config: &CseConfig) -> String {
    let bare_cse = config.cse_id_bare();
    let sp_relative = match fr.strip_prefix("//") {
        Some(absolute) => match absolute.split_once('/') {
            Some((sp, rest)) if sp == config.sp_id => rest,
            _ => return fr.to_owned(),
        },
        None => match fr.strip_prefix('/') {
            Some(rest) => rest,
            None => return fr.to_owned(),
        },
    };
    match sp_relative.split_once('/') {
        Some((csi, local)) if csi == bare_cse && !local.is_empty() => local.to_owned(),
        _ => format!("/{sp_relative}"),
    }
}

/// Find the resource a CSE-relative address names.
pub fn locate(reader: &dyn ReadTxn, to: &str, config: &CseConfig) -> CseResult<Located> {
    let relative = to_cse_relative(to, config)?;
    if relative.is_empty() {
        return Err(CseError::not_found("empty target"));
    }
    let structured = if let Some(rest) = relative.strip_prefix("-/") {
        format!("{}/{}", config.cse_name, rest)
    } else if relative == "-" {
        config.cse_name.clone()
    } else {
        let (first, rest) = relative.split_once('/').unwrap_or((relative, ""));
        if first == config.cse_name {
            relative.to_owned()
        } else {
            // unstructured: a resource ID, possibly followed by names below it
            let Some(resource) = reader.get(first)? else {
                return Err(CseError::not_found(format!("resource {first} not found")));
            };
            if rest.is_empty() {
                return Ok(Located {
                    resource,
                    virtual_child: None,
                });
            }
            format!("{}/{}", resource.path, rest)
        }
    };
    locate_structured(reader, &structured)
}

fn locate_structured(reader: &dyn ReadTxn, path: &str) -> CseResult<Located> {
    // `la` / `ol` are reserved names, so they never name a stored resource.
    let virtual_edge = match path.rsplit_once('/') {
        Some((parent, "la")) => Some((parent, Virtual::Latest)),
        Some((parent, "ol")) => Some((parent, Virtual::Oldest)),
        Some((parent, "pcu")) => Some((parent, Virtual::PollingUri)),
        _ => None,
    };
    if let Some((parent_path, edge)) = virtual_edge {
        let resource = reader
            .get_by_path(parent_path)?
            .filter(|r| edge != Virtual::PollingUri || r.ty == ResourceType::PollingChannel.ty());
        if let Some(resource) = resource {
            return Ok(Located {
                resource,
                virtual_child: Some(edge),
            });
        }
    }
    if let Some(resource) = reader.get_by_path(path)? {
        return Ok(Located {
            resource,
            virtual_child: None,
        });
    }
    let not_found = || CseError::not_found(format!("resource {path} not found"));
    // `fopt` may have more path below it; find the first one.
    let segments: Vec<&str> = path.split('/').collect();
    if let Some(pos) = segments.iter().position(|s| *s == "fopt") {
        if pos == 0 {
            return Err(not_found());
        }
        let group_path = segments[..pos].join("/");
        let rest = segments[pos + 1..].join("/");
        let resource = reader.get_by_path(&group_path)?.ok_or_else(not_found)?;
        return Ok(Located {
            resource,
            virtual_child: Some(Virtual::FanOut(rest)),
        });
    }
    let (parent_path, last) = path.rsplit_once('/').ok_or_else(not_found)?;
    let virtual_child = match last {
        "la" => Virtual::Latest,
        "ol" => Virtual::Oldest,
        "pcu" => Virtual::PollingUri,
        _ => return Err(not_found()),
    };
    let resource = reader
        .get_by_path(parent_path)?
        .filter(|r| {
            virtual_child != Virtual::PollingUri || r.ty == ResourceType::PollingChannel.ty()
        })
        .ok_or_else(not_found)?;
    Ok(Located {
        resource,
        virtual_child: Some(virtual_child),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CseConfig {
        CseConfig {
            sp_id: "acme.example.com".into(),
            ..CseConfig::default()
        }
    }

    #[test]
    fn reduces_to_cse_relative() {
        let c = config();
        assert_eq!(to_cse_relative("cse-in/ae", &c).unwrap(), "cse-in/ae");
        assert_eq!(
            to_cse_relative("/id-in/cse-in/ae", &c).unwrap(),
            "cse-in/ae"
        );
        assert_eq!(
            to_cse_relative("//acme.example.com/id-in/cse-in/ae", &c).unwrap(),
            "cse-in/ae"
        );
        assert_eq!(to_cse_relative("/id-in", &c).unwrap(), "id-in");
        assert_eq!(to_cse_relative("/id-in/cnt123", &c).unwrap(), "cnt123");
        assert_eq!(
            to_cse_relative("/id-other/x", &c).unwrap_err().rsc,
            Rsc::TargetNotReachable
        );
        assert_eq!(
            to_cse_relative("//other.sp/id-in/x", &c).unwrap_err().rsc,
            Rsc::NotFound
        );
    }

    #[test]
    fn originators() {
        let c = config();
        assert_eq!(normalize_originator("Cae1", &c), "Cae1");
        assert_eq!(normalize_originator("/id-in/Cae1", &c), "Cae1");
        assert_eq!(
            normalize_originator("//acme.example.com/id-in/Cae1", &c),
            "Cae1"
        );
        assert_eq!(normalize_originator("/id-mn", &c), "/id-mn");
        assert_eq!(normalize_originator("/id-mn/Cx", &c), "/id-mn/Cx");
    }
}
