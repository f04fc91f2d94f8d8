//! Monitoring numbers (JCBH): 6-digit county code + year + quarter digit + 5-digit sequence,
//! e.g. `320581` `2024` `2` `00017`. Within a county, leads are numbered north to south, then
//! west to east (by the centre of their extent), then larger first, then by source id, so the
//! same polygons always get the same numbers whatever order they were read in.

use crate::job::Quarter;
use std::cmp::Ordering;

/// Where a lead sits, for ordering.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Place {
    pub centre_x: f64,
    pub centre_y: f64,
    pub area_m2: f64,
    /// A stable id of the source polygon and piece (tie-break).
    pub id: u64,
}

fn order(a: &Place, b: &Place) -> Ordering {
    b.centre_y
        .total_cmp(&a.centre_y)
        .then(a.centre_x.total_cmp(&b.centre_x))
        .then(b.area_m2.total_cmp(&a.area_m2))
        .then(a.id.cmp(&b.id))
}

/// The JCBH of the `seq`-th (1-based) lead of `county` in `quarter`.
pub fn jcbh(county: &str, quarter: Quarter, seq: usize) -> String {
    format!("{county}{}{}{seq:05}", quarter.year, quarter.q)
}

/// Sequence numbers (1-based) for the leads of one county, in input order.
pub fn sequence(places: &[Place]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..places.len()).collect();
    idx.sort_by(|&a, &b| order(&places[a], &places[b]));
    let mut seq = vec![0; places.len()];
    for (rank, i) in idx.into_iter().enumerate() {
        seq[i] = rank + 1;
    }
    seq
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(x: f64, y: f64, id: u64) -> Place {
        Place {
            centre_x: x,
            centre_y: y,
            area_m2: 100.0,
            id,
        }
    }

    #[test]
    fn numbers_run_north_to_south_then_west_to_east() {
        let places = [place(5.0, 0.0, 1), place(0.0, 10.0, 2), place(1.0, 0.0, 3)];
        assert_eq!(sequence(&places), vec![3, 1, 2]);
        let mut shuffled = places;
        shuffled.reverse();
        assert_eq!(sequence(&shuffled), vec![2, 1, 3]);
        let q = Quarter::parse("2024Q2").unwrap();
        assert_eq!(jcbh("320581", q, 17), "3205812024200017");
    }
}
