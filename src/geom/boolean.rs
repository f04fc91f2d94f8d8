//! Boolean operations that cannot take the process down.
//!
//! geo's boolean operations run on i_overlay 4.5, whose hole binding can panic on inputs with
//! near-coincident edges (iShape-Rust/iOverlay#17, #91; fixed upstream only in releases geo
//! does not accept yet). Such inputs are common in an overlay: subdivided reference polygons,
//! parts that share cut lines, survey polygons that share boundaries. Every operation here runs
//! under `catch_unwind` (with the panic message silenced); on a panic it is retried on
//! coordinates snapped to a grid 10^-7, then 10^-6, of the operands' extent (area change well
//! below 10^-6 of the area), and reported as failed only when all three attempts panic.

use geo::algorithm::bool_ops::{FillRule, OpType};
use geo::orient::{Direction, Orient};
use geo::{BooleanOps, BoundingRect, MapCoords, MultiPolygon, Rect};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

/// A boolean operation panicked on the input and its snapped retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpFailed;

/// Which operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Intersection,
    Difference,
    Union,
}

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}
static HOOK: Once = Once::new();

/// Install (once) a panic hook that stays silent while a guarded operation runs and defers to
/// the previous hook otherwise.
fn install_quiet_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Operations that panicked (process-wide), for the run's report.
static PANICS: AtomicU64 = AtomicU64::new(0);

/// How many guarded operations have panicked so far in this process (each retried on snapped
/// coordinates).
pub fn panics() -> u64 {
    PANICS.load(Ordering::Relaxed)
}

/// Run `f`, turning a panic into `None` without printing it.
fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    install_quiet_hook();
    QUIET.with(|q| q.set(true));
    let r = catch_unwind(AssertUnwindSafe(f)).ok();
    QUIET.with(|q| q.set(false));
    if r.is_none() {
        PANICS.fetch_add(1, Ordering::Relaxed);
    }
    r
}

fn snap(g: &MultiPolygon<f64>, grid: f64) -> MultiPolygon<f64> {
    g.map_coords(|c| geo::Coord {
        x: (c.x / grid).round() * grid,
        y: (c.y / grid).round() * grid,
    })
}

fn extent(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) -> f64 {
    let r = match (a.bounding_rect(), b.bounding_rect()) {
        (Some(x), Some(y)) => Rect::new(
            geo::Coord {
                x: x.min().x.min(y.min().x),
                y: x.min().y.min(y.min().y),
            },
            geo::Coord {
                x: x.max().x.max(y.max().x),
                y: x.max().y.max(y.max().y),
            },
        ),
        (Some(x), None) | (None, Some(x)) => x,
        (None, None) => return 0.0,
    };
    r.width().max(r.height())
}

fn run(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>, op: Op, fill: FillRule) -> MultiPolygon<f64> {
    let t = match op {
        Op::Intersection => OpType::Intersection,
        Op::Difference => OpType::Difference,
        Op::Union => OpType::Union,
    };
    a.boolean_op_with_fill_rule(b, t, fill)
}

/// `a op b` under a fill rule (even-odd treats every ring of an operand alike, so rings that
/// tile a region may be passed together and act as their union).
///
/// # Errors
/// [`OpFailed`] when the operation panics on the input and on both snapped retries.
pub fn boolean_with(
    a: &MultiPolygon<f64>,
    b: &MultiPolygon<f64>,
    op: Op,
    fill: FillRule,
) -> Result<MultiPolygon<f64>, OpFailed> {
    if let Some(r) = guarded(|| run(a, b, op, fill)) {
        return Ok(r);
    }
    let e = extent(a, b);
    if e <= 0.0 {
        return Err(OpFailed);
    }
    for rel in [1e-7, 1e-6] {
        let grid = e * rel;
        let (sa, sb) = (snap(a, grid), snap(b, grid));
        if let Some(r) = guarded(|| run(&sa, &sb, op, fill)) {
            return Ok(r);
        }
    }
    Err(OpFailed)
}

/// `a op b` under the even-odd rule.
///
/// # Errors
/// As [`boolean_with`].
pub fn boolean(
    a: &MultiPolygon<f64>,
    b: &MultiPolygon<f64>,
    op: Op,
) -> Result<MultiPolygon<f64>, OpFailed> {
    boolean_with(a, b, op, FillRule::EvenOdd)
}

/// Parts side by side in one operand, every ring oriented (shells counter-clockwise, holes
/// clockwise): under the non-zero rule the operand is the union of the parts, however they
/// overlap, with no union computed.
///
/// i_overlay's segment splitting slows down sharply when many edges coincide in part (26
/// intersection parts of one small polygon: 37 s to merge, where the 32 unclipped operands
/// take 0.2 ms): operands are raw reference pieces, and exact duplicates (the same approval
/// recorded twice) are dropped.
fn as_nonzero_operand(parts: &[MultiPolygon<f64>]) -> MultiPolygon<f64> {
    let mut seen = rustc_hash::FxHashSet::default();
    MultiPolygon::new(
        parts
            .iter()
            .filter(|p| {
                let key: Vec<u64> =
                    p.0.iter()
                        .flat_map(|poly| std::iter::once(poly.exterior()).chain(poly.interiors()))
                        .flat_map(|r| r.0.iter().flat_map(|c| [c.x.to_bits(), c.y.to_bits()]))
                        .collect();
                seen.insert(key)
            })
            .flat_map(|p| p.orient(Direction::Default).0)
            .collect(),
    )
}

/// `base` minus the union of `operands` (which may overlap each other), in one non-zero
/// operation. The operands must not be clipped to `base` (see [`as_nonzero_operand`]).
///
/// # Errors
/// As [`boolean_with`].
pub fn subtract_all(
    base: &MultiPolygon<f64>,
    operands: &[MultiPolygon<f64>],
) -> Result<MultiPolygon<f64>, OpFailed> {
    if operands.is_empty() {
        return Ok(base.clone());
    }
    boolean_with(
        &base.orient(Direction::Default),
        &as_nonzero_operand(operands),
        Op::Difference,
        FillRule::NonZero,
    )
}

/// The part of `base` inside the union of `operands` (which may overlap each other), in one
/// non-zero operation.
///
/// # Errors
/// As [`boolean_with`].
pub fn cover(
    base: &MultiPolygon<f64>,
    operands: &[MultiPolygon<f64>],
) -> Result<MultiPolygon<f64>, OpFailed> {
    if operands.is_empty() {
        return Ok(MultiPolygon::new(vec![]));
    }
    boolean_with(
        &base.orient(Direction::Default),
        &as_nonzero_operand(operands),
        Op::Intersection,
        FillRule::NonZero,
    )
}

/// The union of `parts` (which may overlap each other), in one operation.
///
/// # Errors
/// As [`boolean_with`].
pub fn union_all(parts: &[MultiPolygon<f64>]) -> Result<MultiPolygon<f64>, OpFailed> {
    match parts {
        [] => Ok(MultiPolygon::new(vec![])),
        [one] => Ok(one.clone()),
        many => boolean_with(
            &as_nonzero_operand(many),
            &MultiPolygon::new(vec![]),
            Op::Union,
            FillRule::NonZero,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::orient::{Direction, Orient};
    use geo::{Area, wkt};

    #[test]
    fn operations_and_sequential_subtraction() {
        let a = MultiPolygon::new(vec![wkt!(POLYGON((0. 0., 4. 0., 4. 4., 0. 4., 0. 0.)))]);
        let b = MultiPolygon::new(vec![wkt!(POLYGON((2. 2., 6. 2., 6. 6., 2. 6., 2. 2.)))]);
        let c = MultiPolygon::new(vec![wkt!(POLYGON((0. 0., 3. 0., 3. 3., 0. 3., 0. 0.)))]);
        assert_eq!(
            boolean(&a, &b, Op::Intersection).unwrap().unsigned_area(),
            4.0
        );
        assert_eq!(boolean(&a, &b, Op::Union).unwrap().unsigned_area(), 28.0);
        // b and c overlap on [2,3]^2: subtracting both removes 4 + 9 - 1.
        let rest = subtract_all(&a, &[b.clone(), c.clone(), c.clone()]).unwrap();
        assert!((rest.unsigned_area() - 4.0).abs() < 1e-12);
        let inside = cover(&a, &[b.clone(), c.clone()]).unwrap();
        assert!((inside.unsigned_area() - 12.0).abs() < 1e-12);
        // Overlapping parts, one of them clockwise: the union counts the overlap once.
        let cw = c.orient(Direction::Reversed);
        assert!((union_all(&[b, cw]).unwrap().unsigned_area() - 24.0).abs() < 1e-12);
    }

    #[test]
    fn a_panic_inside_is_contained() {
        assert_eq!(guarded(|| -> u8 { panic!("inside") }), None);
        assert_eq!(guarded(|| 3), Some(3));
    }
}
