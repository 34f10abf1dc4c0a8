//! The event ids that are inbox rows, as a Bloom filter: what lets the SQLite inbox journal
//! answer "new" for a delivery without asking the database. Asking cost a query per group of
//! deliveries, handed to SQLite's thread and back: about 8% of the acknowledgement's CPU
//! (docs/benchmarks.md). "Maybe stored" still asks the database, so a false positive costs
//! one query and never a wrong answer; there are no false negatives.
//!
//! Each id sets a few bits within one 64-bit word (a blocked Bloom filter): one memory access
//! per lookup. The filter grows in stages, each twice the capacity of the one before, since a
//! Bloom filter cannot be resized without its keys; a lookup probes every stage.

use std::hash::{DefaultHasher, Hash, Hasher};

/// Bits per id: 16 with 6 bits set in a word keeps false positives near 0.2%.
const BITS_PER_ID: usize = 16;
const BITS_SET: u32 = 6;
/// The first stage's capacity when nothing is known of the table's size.
pub(crate) const MIN_CAPACITY: usize = 1 << 16;

#[derive(Debug)]
pub(crate) struct IdFilter {
    stages: Vec<Stage>,
}

#[derive(Debug)]
struct Stage {
    words: Vec<u64>,
    capacity: usize,
    len: usize,
}

impl Stage {
    fn new(capacity: usize) -> Self {
        let words = (capacity * BITS_PER_ID / 64).next_power_of_two();
        Self {
            words: vec![0; words],
            capacity,
            len: 0,
        }
    }

    fn word(&self, hash: u64) -> usize {
        // `words.len()` is a power of two; the low half of the hash picks the word.
        (hash as usize) & (self.words.len() - 1)
    }
}

/// The bits an id sets in its word, from the hash's high half (mixed again, so that they do
/// not follow the word's index).
fn bits(hash: u64) -> u64 {
    let mut mixed = hash.rotate_left(32).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut bits = 0;
    for _ in 0..BITS_SET {
        bits |= 1 << (mixed & 63);
        mixed >>= 6;
    }
    bits
}

fn hash(id: &str) -> u64 {
    // SipHash with fixed keys: the ids come from signed Stripe events, so nobody can choose
    // them to collide.
    let mut hasher = DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

impl IdFilter {
    /// Room for `capacity` ids before the first new stage.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            stages: vec![Stage::new(capacity.max(MIN_CAPACITY))],
        }
    }

    pub(crate) fn insert(&mut self, id: &str) {
        let hash = hash(id);
        let last = self.stages.last().expect("BUG: a filter without a stage");
        if last.len >= last.capacity {
            let capacity = last.capacity * 2;
            self.stages.push(Stage::new(capacity));
        }
        let stage = self
            .stages
            .last_mut()
            .expect("BUG: a filter without a stage");
        let word = stage.word(hash);
        stage.words[word] |= bits(hash);
        stage.len += 1;
    }

    /// `false`: the id was never inserted. `true`: it probably was.
    pub(crate) fn may_contain(&self, id: &str) -> bool {
        let hash = hash(id);
        let bits = bits(hash);
        self.stages
            .iter()
            .any(|stage| stage.words[stage.word(hash)] & bits == bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_inserted_id_is_found_through_the_stages_it_grew() {
        let mut filter = IdFilter::with_capacity(0);
        let ids: Vec<String> = (0..300_000).map(|n| format!("evt_{n:024}")).collect();
        for id in &ids {
            filter.insert(id);
        }
        assert!(filter.stages.len() >= 3, "{} stages", filter.stages.len());
        assert!(ids.iter().all(|id| filter.may_contain(id)));
    }

    #[test]
    fn ids_never_inserted_are_mostly_reported_absent() {
        let mut filter = IdFilter::with_capacity(100_000);
        for n in 0..100_000 {
            filter.insert(&format!("evt_in_{n}"));
        }
        let false_positives = (0..100_000)
            .filter(|n| filter.may_contain(&format!("evt_out_{n}")))
            .count();
        // About 0.2% expected; 1% would mean the bits no longer spread.
        assert!(false_positives < 1_000, "{false_positives} false positives");
    }
}
