//! The generator's two random choices, always from a seeded `ChaCha8Rng`: one item of a table,
//! and "yes with `p` percent".

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// One item of `items` (not empty), uniformly.
pub(super) fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

/// True with probability `p` percent.
pub(super) fn percent(rng: &mut ChaCha8Rng, p: u32) -> bool {
    rng.gen_range(0..100u32) < p
}
