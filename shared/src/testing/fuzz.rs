//! Seeded generators for property tests of the parsers that see untrusted bytes: request
//! bodies, upstream event streams, tokens and ids. A fixed seed keeps every run the same
//! (a failure names its case number, which reproduces it); no extra toolchain is needed.

use serde_json::{Map, Value, json};

/// How many generated inputs each parser gets in the normal test run.
pub const CASES: usize = 100_000;

/// A small, fast pseudo-random generator (xorshift64*): plenty for test inputs.
pub struct Gen(u64);

impl Gen {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Up to `max` arbitrary bytes, biased towards the bytes parsers care about.
    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        const SPECIAL: &[u8] = b"\n\r:{}[]\",\\ \0\xff\xc3";
        let len = self.below(max + 1);
        (0..len)
            .map(|_| match self.below(3) {
                0 => *self.pick(SPECIAL),
                _ => self.next_u64() as u8,
            })
            .collect()
    }

    /// A string: empty, short, long, unicode, control characters, or shaped like the
    /// tokens and ids the product uses.
    pub fn string(&mut self) -> String {
        match self.below(10) {
            0 => String::new(),
            1 => " ".repeat(self.below(5)),
            2 => "x".repeat(self.below(20_000)),
            3 => format!("agp_{}", self.alnum(28)),
            4 => format!("ags_{}", self.hex(48)),
            5 => uuid_like(self),
            6 => "é\u{0}\u{1b}[31m😀\u{202e}".repeat(1 + self.below(4)),
            7 => format!("{}@{}.com", self.alnum(8), self.alnum(5)),
            _ => String::from_utf8_lossy(&self.bytes(40)).into_owned(),
        }
    }

    fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        (0..n).map(|_| *self.pick(A) as char).collect()
    }

    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from_digit(self.below(16) as u32, 16).unwrap_or('0'))
            .collect()
    }

    /// Any JSON value, nested at most `depth` deep; objects use `keys` most of the time.
    pub fn value(&mut self, keys: &[&str], depth: usize) -> Value {
        match self.below(if depth == 0 { 6 } else { 9 }) {
            0 => Value::Null,
            1 => json!(self.chance(2)),
            2 => json!(self.next_u64() as i64),
            3 => json!(f64::from_bits(self.next_u64()).clamp(-1e300, 1e300)),
            4 | 5 => json!(self.string()),
            6 => Value::Array(
                (0..self.below(5))
                    .map(|_| self.value(keys, depth - 1))
                    .collect(),
            ),
            _ => Value::Object(self.object(keys, depth - 1)),
        }
    }

    /// A JSON object with some of `keys` (and now and then another key).
    pub fn object(&mut self, keys: &[&str], depth: usize) -> Map<String, Value> {
        let mut map = Map::new();
        for _ in 0..self.below(keys.len() + 2) {
            let key = if self.chance(8) || keys.is_empty() {
                self.string()
            } else {
                (*self.pick(keys)).to_owned()
            };
            map.insert(key, self.value(keys, depth));
        }
        map
    }
}

fn uuid_like(g: &mut Gen) -> String {
    let h = g.hex(32);
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..]
    )
}

/// Runs `check` on [`CASES`] generated inputs; a panic names the case number.
pub fn for_all<T>(seed: u64, mut make: impl FnMut(&mut Gen) -> T, mut check: impl FnMut(T)) {
    let mut g = Gen::new(seed);
    for case in 0..CASES {
        let input = make(&mut g);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(input)));
        if let Err(e) = result {
            panic!("case {case} of seed {seed} failed: {e:?}");
        }
    }
}

/// Runs `check` on [`CASES`] generated JSON object bodies whose fields are mostly the
/// whitespace-separated `keys`.
pub fn for_all_bodies(seed: u64, keys: &str, depth: usize, check: impl FnMut(Map<String, Value>)) {
    let keys: Vec<&str> = keys.split_whitespace().collect();
    for_all(seed, |g| g.object(&keys, depth), check);
}
