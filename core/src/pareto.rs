//! Pareto fronts and hypervolume: what "best" means with several
//! objectives. Points are oriented to minimise every coordinate.

/// Whether `a` dominates `b`: no worse anywhere, better somewhere.
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    let mut better = false;
    for (x, y) in a.iter().zip(b) {
        if x > y {
            return false;
        }
        better |= x < y;
    }
    better
}

/// The indices of the points no other point dominates, in their order.
/// Equal points are all kept. O(n^2 d): fronts here are of hundreds of runs.
pub fn front(points: &[Vec<f64>]) -> Vec<usize> {
    (0..points.len())
        .filter(|&i| !points.iter().any(|q| dominates(q, &points[i])))
        .collect()
}

/// The area that two-objective points dominate up to `reference` (points
/// not better than it in both coordinates add nothing).
pub fn hypervolume_2d(points: &[[f64; 2]], reference: [f64; 2]) -> f64 {
    let mut inside: Vec<[f64; 2]> = points
        .iter()
        .copied()
        .filter(|p| p[0] < reference[0] && p[1] < reference[1])
        .collect();
    inside.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    let mut area = 0.0;
    let mut ceiling = reference[1];
    for p in inside {
        if p[1] < ceiling {
            area += (reference[0] - p[0]) * (ceiling - p[1]);
            ceiling = p[1];
        }
    }
    area
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_front_keeps_what_nothing_dominates() {
        let points = vec![
            vec![1.0, 5.0],
            vec![2.0, 2.0],
            vec![3.0, 3.0], // dominated by (2, 2)
            vec![5.0, 1.0],
            vec![2.0, 2.0], // equal: kept too
            vec![1.0, 6.0], // dominated by (1, 5)
        ];
        assert_eq!(front(&points), [0, 1, 3, 4]);
        assert!(dominates(&[1.0, 1.0], &[1.0, 2.0]));
        assert!(!dominates(&[1.0, 2.0], &[1.0, 2.0]));
        assert!(!dominates(&[0.0, 3.0], &[1.0, 2.0]));
    }

    #[test]
    fn hypervolume_adds_the_staircase() {
        let r = [4.0, 4.0];
        assert_eq!(hypervolume_2d(&[], r), 0.0);
        assert_eq!(hypervolume_2d(&[[1.0, 1.0]], r), 9.0);
        // (1, 3) adds 3 x 1, then (3, 1) adds 1 x 2 below it.
        assert_eq!(hypervolume_2d(&[[1.0, 3.0], [3.0, 1.0]], r), 3.0 + 2.0);
        // A dominated point and one outside add nothing.
        assert_eq!(
            hypervolume_2d(&[[1.0, 3.0], [3.0, 1.0], [3.5, 3.5], [5.0, 0.0]], r),
            5.0
        );
    }
}
