//! Band mapping: which bands of a file are used, and which role (R, G, B, NIR, SWIR) each plays.
//!
//! Syntax of `--bands`: a comma list of 1-based band numbers, each optionally named by role:
//! `3,2,1,4` or `R=3,G=2,B=1,NIR=4,SWIR=5`. Roles accepted: R/RED, G/GREEN, B/BLUE, NIR, SWIR
//! (SWIR1). Unnamed bands take their role from the file's colour interpretation when it has one.

use crate::change::BandRoles;
use crate::error::{Error, Result};
use std::path::Path;

/// A role a band can play.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Red,
    Green,
    Blue,
    Nir,
    Swir,
}

impl Role {
    /// A role by its name (R/RED, G/GREEN, B/BLUE, NIR/N, SWIR/SWIR1; any case).
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_uppercase().as_str() {
            "R" | "RED" => Some(Role::Red),
            "G" | "GREEN" => Some(Role::Green),
            "B" | "BLUE" => Some(Role::Blue),
            "NIR" | "N" => Some(Role::Nir),
            "SWIR" | "SWIR1" => Some(Role::Swir),
            _ => None,
        }
    }
}

/// One selected band: its 1-based number in the file and its role, if known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BandChoice {
    pub number: usize,
    pub role: Option<Role>,
}

/// Parse a `--bands` value for a file with `count` bands.
///
/// # Errors
/// [`Error::BandMapping`] naming `path` when an item is malformed, a role is unknown or used
/// twice, or a band number is 0 or above `count`.
pub fn parse_bands(spec: &str, count: usize, path: &Path) -> Result<Vec<BandChoice>> {
    let fail = |reason: String| Error::BandMapping {
        path: path.to_path_buf(),
        mapping: spec.to_string(),
        reason,
    };
    let mut out: Vec<BandChoice> = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (role, num) = match item.split_once('=') {
            Some((r, n)) => {
                let role = Role::parse(r).ok_or_else(|| {
                    fail(format!("unknown role {r:?} (use R, G, B, NIR or SWIR)"))
                })?;
                (Some(role), n)
            }
            None => (None, item),
        };
        let number: usize = num
            .trim()
            .parse()
            .map_err(|_| fail(format!("{num:?} is not a band number")))?;
        if number == 0 || number > count {
            return Err(fail(format!(
                "band {number} does not exist (the file has {count})"
            )));
        }
        if role.is_some() && out.iter().any(|c| c.role == role) {
            return Err(fail(format!("role {role:?} given twice")));
        }
        out.push(BandChoice { number, role });
    }
    if out.is_empty() {
        return Err(fail("no band selected".into()));
    }
    Ok(out)
}

impl BandRoles {
    /// The selected band that plays `role`, if any.
    pub fn of(&self, role: Role) -> Option<usize> {
        match role {
            Role::Red => self.red,
            Role::Green => self.green,
            Role::Blue => self.blue,
            Role::Nir => self.nir,
            Role::Swir => self.swir,
        }
    }
}

/// Roles as indices into the selection.
pub fn roles_of(choice: &[BandChoice]) -> BandRoles {
    let find = |r: Role| choice.iter().position(|c| c.role == Some(r));
    BandRoles {
        red: find(Role::Red),
        green: find(Role::Green),
        blue: find(Role::Blue),
        nir: find(Role::Nir),
        swir: find(Role::Swir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_named() {
        let p = Path::new("x.tif");
        let c = parse_bands("R=3,G=2,B=1,NIR=4", 4, p).unwrap();
        assert_eq!(
            c[3],
            BandChoice {
                number: 4,
                role: Some(Role::Nir)
            }
        );
        let r = roles_of(&c);
        assert_eq!((r.red, r.nir, r.swir), (Some(0), Some(3), None));
        assert_eq!(parse_bands("1, 2", 2, p).unwrap().len(), 2);
    }

    #[test]
    fn rejects_bad_mappings_naming_the_file() {
        let p = Path::new("scene.tif");
        for bad in ["5", "0", "X=1", "R=1,R=2", "", "a"] {
            let e = parse_bands(bad, 4, p).unwrap_err().to_string();
            assert!(e.starts_with("scene.tif: band mapping"), "{bad}: {e}");
        }
    }
}
