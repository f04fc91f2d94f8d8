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

    /// The role's short name, as `--bands` takes it.
    pub fn short(self) -> &'static str {
        match self {
            Role::Red => "R",
            Role::Green => "G",
            Role::Blue => "B",
            Role::Nir => "NIR",
            Role::Swir => "SWIR",
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

/// How the after image's bands pair with the before image's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pairing {
    /// Band for band, in the order they were selected.
    InOrder,
    /// The after image's bands in the before image's order (each before band's partner at its
    /// position): the two files declare the same roles in another order.
    Reordered(Vec<BandChoice>),
    /// The two files declare different roles for bands that would be compared: the position
    /// (in the before image's selection) and the two roles.
    Conflict {
        position: usize,
        before: Role,
        after: Role,
    },
}

/// Pair the after image's bands with the before image's by the roles both files declare.
///
/// A role declared in both files pairs its two bands wherever they stand; the bands left over
/// pair in their order. Files of which one declares no role, or a role twice, pair in order
/// (nothing says otherwise). A pair left with two different declared roles is a conflict: comparing a red band
/// with a blue one is change everywhere.
pub fn pair_by_role(before: &[BandChoice], after: &[BandChoice]) -> Pairing {
    let declares = |c: &[BandChoice]| c.iter().any(|b| b.role.is_some());
    // A role declared twice in one file (two "red" bands) says nothing about which is which.
    let unique = |c: &[BandChoice]| {
        c.iter().enumerate().all(|(i, b)| {
            b.role
                .is_none_or(|r| c[..i].iter().all(|o| o.role != Some(r)))
        })
    };
    if before.len() != after.len()
        || !declares(before)
        || !declares(after)
        || !unique(before)
        || !unique(after)
    {
        return Pairing::InOrder;
    }
    let mut partner: Vec<Option<usize>> = before
        .iter()
        .map(|b| {
            b.role
                .and_then(|r| after.iter().position(|a| a.role == Some(r)))
        })
        .collect();
    let taken: Vec<usize> = partner.iter().flatten().copied().collect();
    let mut left = (0..after.len()).filter(|j| !taken.contains(j));
    for p in &mut partner {
        if p.is_none() {
            *p = left.next();
        }
    }
    let order: Vec<usize> = partner.into_iter().flatten().collect();
    for (position, (b, &j)) in before.iter().zip(&order).enumerate() {
        if let (Some(rb), Some(ra)) = (b.role, after[j].role) {
            if rb != ra {
                return Pairing::Conflict {
                    position,
                    before: rb,
                    after: ra,
                };
            }
        }
    }
    if order.iter().enumerate().all(|(i, &j)| i == j) {
        Pairing::InOrder
    } else {
        Pairing::Reordered(order.into_iter().map(|j| after[j]).collect())
    }
}

/// The bands of two files with different band counts that play the roles both declare: each
/// file's bands of those roles, in the before image's order. None unless every band of the file
/// with fewer bands declares a role that the other file declares once (a 3-band R, G, B image
/// beside a 4-band B, G, R, NIR one: their R, G, B).
pub fn common_by_role(
    before: &[BandChoice],
    after: &[BandChoice],
) -> Option<(Vec<BandChoice>, Vec<BandChoice>)> {
    let (fewer, more) = if before.len() < after.len() {
        (before, after)
    } else {
        (after, before)
    };
    let once = |c: &[BandChoice], r: Role| c.iter().filter(|b| b.role == Some(r)).count() == 1;
    if fewer.len() == more.len()
        || fewer
            .iter()
            .any(|b| b.role.is_none_or(|r| !once(fewer, r) || !once(more, r)))
    {
        return None;
    }
    let roles: Vec<Role> = before
        .iter()
        .filter_map(|b| b.role)
        .filter(|&r| fewer.iter().any(|f| f.role == Some(r)))
        .collect();
    let pick = |c: &[BandChoice]| -> Vec<BandChoice> {
        roles
            .iter()
            .filter_map(|&r| c.iter().find(|b| b.role == Some(r)).copied())
            .collect()
    };
    Some((pick(before), pick(after)))
}

/// The roles of a selection as a comma list (`B,G,R,?` where a band has none).
pub fn role_list(choice: &[BandChoice]) -> String {
    choice
        .iter()
        .map(|c| c.role.map_or("?", Role::short))
        .collect::<Vec<_>>()
        .join(",")
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

    fn choice(roles: &[Option<Role>]) -> Vec<BandChoice> {
        roles
            .iter()
            .enumerate()
            .map(|(i, &role)| BandChoice {
                number: i + 1,
                role,
            })
            .collect()
    }

    #[test]
    fn bands_pair_by_the_roles_both_files_declare() {
        use Role::*;
        let bgrn = choice(&[Some(Blue), Some(Green), Some(Red), None]);
        // Same order, or one file without roles: band for band.
        assert_eq!(pair_by_role(&bgrn, &bgrn), Pairing::InOrder);
        assert_eq!(pair_by_role(&bgrn, &choice(&[None; 4])), Pairing::InOrder);
        assert_eq!(pair_by_role(&choice(&[None; 4]), &bgrn), Pairing::InOrder);
        // R, G, B, ? against B, G, R, ?: the after's bands 3, 2, 1, 4.
        let rgbn = choice(&[Some(Red), Some(Green), Some(Blue), None]);
        let Pairing::Reordered(a) = pair_by_role(&bgrn, &rgbn) else {
            panic!("not reordered");
        };
        assert_eq!(a.iter().map(|c| c.number).collect::<Vec<_>>(), [3, 2, 1, 4]);
        // A role only one file declares pairs with what is left, in order.
        let nir_first = choice(&[None, Some(Red), Some(Green), Some(Blue)]);
        let bgr_nir = choice(&[Some(Blue), Some(Green), Some(Red), Some(Nir)]);
        let Pairing::Reordered(a) = pair_by_role(&bgr_nir, &nir_first) else {
            panic!("not reordered");
        };
        assert_eq!(a.iter().map(|c| c.number).collect::<Vec<_>>(), [4, 3, 2, 1]);
        // NIR against SWIR in the last place: a conflict, named.
        let bgrs = choice(&[Some(Blue), Some(Green), Some(Red), Some(Swir)]);
        assert_eq!(
            pair_by_role(&bgr_nir, &bgrs),
            Pairing::Conflict {
                position: 3,
                before: Nir,
                after: Swir
            }
        );
        // A role declared twice says nothing.
        let rrgb = choice(&[Some(Red), Some(Red), Some(Green), Some(Blue)]);
        assert_eq!(pair_by_role(&bgr_nir, &rrgb), Pairing::InOrder);
        assert_eq!(role_list(&bgrn), "B,G,R,?");
    }

    #[test]
    fn files_of_different_band_counts_share_the_roles_both_declare() {
        use Role::*;
        let rgb = choice(&[Some(Red), Some(Green), Some(Blue)]);
        let bgrn = choice(&[Some(Blue), Some(Green), Some(Red), None]);
        let numbers = |c: &[BandChoice]| c.iter().map(|b| b.number).collect::<Vec<_>>();
        let (b, a) = common_by_role(&rgb, &bgrn).unwrap();
        assert_eq!((numbers(&b), numbers(&a)), (vec![1, 2, 3], vec![3, 2, 1]));
        // The other way round, in the before image's order.
        let (b, a) = common_by_role(&bgrn, &rgb).unwrap();
        assert_eq!((numbers(&b), numbers(&a)), (vec![1, 2, 3], vec![3, 2, 1]));
        // A band of the smaller file without a role, or a role the other lacks: nothing said.
        assert_eq!(
            common_by_role(&choice(&[Some(Red), None, Some(Blue)]), &bgrn),
            None
        );
        let rgs = choice(&[Some(Red), Some(Green), Some(Swir)]);
        assert_eq!(common_by_role(&rgs, &bgrn), None);
        assert_eq!(common_by_role(&rgb, &rgb), None);
    }
}
