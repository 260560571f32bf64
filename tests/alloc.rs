//! The shell's global allocator (`src/alloc.rs`) in a real wasm instance, in headless Chromium
//! (run as `tests/shell.rs` is): it is the one in use, and a long session of allocations and frees
//! does not keep growing the memory.
#![cfg(target_arch = "wasm32")]

// Links the shell, and with it its `#[global_allocator]`.
use fbevents as _;
use std::collections::BTreeMap;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

fn pages() -> usize {
    core::arch::wasm32::memory_size(0)
}

/// Ours hands out blocks aligned to their power-of-two size; dlmalloc aligns to 8 or 16 only.
#[wasm_bindgen_test]
fn blocks_are_naturally_aligned() {
    let blocks: Vec<Vec<u8>> = (0..8).map(|_| Vec::with_capacity(4096)).collect();
    for b in &blocks {
        assert_eq!(b.as_ptr() as usize % 4096, 0);
    }
    let small: Vec<Box<[u8; 48]>> = (0..8).map(|_| Box::new([7; 48])).collect();
    for b in &small {
        assert_eq!(b.as_ptr() as usize % 64, 0);
    }
}

/// One round of what the pixel does: strings that grow, vectors of various sizes, a map, some of
/// them larger than a page.
fn round(i: usize) -> usize {
    let mut s = String::new();
    for j in 0..(i % 40) {
        s.push_str("ud[em]=");
        s.push(char::from(b'a' + (j % 26) as u8));
    }
    let sizes = [1, 15, 16, 17, 100, 1000, 4095, 4096, 5000, 70_000];
    let vecs: Vec<Vec<u8>> = sizes
        .iter()
        .map(|&n| vec![(i % 251) as u8; n + i % 7])
        .collect();
    let mut map = BTreeMap::new();
    for (k, v) in vecs.iter().enumerate() {
        map.insert(k, v.len());
        assert!(v.iter().all(|&b| b == (i % 251) as u8), "data kept");
    }
    let mut grown = Vec::new();
    for n in 0..(i % 3000) {
        grown.push(n as u32);
    }
    s.len() + map.values().sum::<usize>() + grown.len()
}

#[wasm_bindgen_test]
fn memory_stays_bounded_over_10000_rounds() {
    let mut total = 0;
    for i in 0..100 {
        total += round(i);
    }
    let warm = pages();
    for i in 100..10_000 {
        total += round(i);
    }
    assert!(total > 0);
    assert_eq!(
        pages(),
        warm,
        "memory grew from {warm} pages after 10,000 alloc/free rounds"
    );
}

/// Many small live blocks freed in a different order from the one they came in.
#[wasm_bindgen_test]
fn interleaved_frees_are_reused() {
    let warm_up: Vec<String> = (0..2000).map(|i| "x".repeat(i % 300)).collect();
    drop(warm_up);
    let before = pages();
    for round in 0..50 {
        let mut live: Vec<String> = (0..2000).map(|i| "y".repeat((i + round) % 300)).collect();
        // Free every other one, then the rest.
        let mut k = 0;
        live.retain(|_| {
            k += 1;
            k % 2 == 0
        });
        drop(live);
    }
    assert!(
        pages() <= before + 1,
        "{before} -> {} pages: freed blocks not reused",
        pages()
    );
}
