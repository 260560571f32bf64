//! The wasm build's global allocator: power-of-two size classes on intrusive free lists, carved
//! from `memory.grow` pages. About 0.7 KB of wasm where dlmalloc costs about 5.5 KB.
//!
//! - **Classes.** A request of `size` bytes aligned to `align` gets a block of the class
//!   `max(size, align, 16)` rounded up to a power of two: 16 B, 32 B, ... 2 GiB, one free list each.
//! - **Alignment for free.** A block of size `S` always starts at a multiple of `S` (natural
//!   alignment), so any `align <= S` holds. Fresh blocks are cut from the top of the heap after
//!   aligning it up; the gap that skips is not lost but cut into naturally aligned smaller blocks
//!   that go onto their free lists.
//! - **Reuse.** A freed block goes onto the list of its class and is handed out again, last in
//!   first out, before the heap grows. `realloc` keeps the block when the new size is in the same
//!   class (a `String` growing from 20 to 30 bytes does not move); otherwise it moves.
//! - **No splitting or merging.** Blocks never change class, so memory only grows while the live
//!   bytes of some class reach a new peak: a long single-page-app session that allocates and frees
//!   stays at its high-water mark. The cost is up to 2x internal rounding, which a pixel holding a
//!   few kilobytes at a time does not notice.
//!
//! The list logic ([`Heap`]) is generic over where pages come from ([`Pages`]), so the host unit
//! tests run it against a `Vec`-backed arena; the wasm build plugs in `memory.grow`.
#![allow(unsafe_code)]

use core::alloc::Layout;

/// `log2` of the smallest block: 16 bytes, room for a free-list link and `u128` alignment.
const MIN_SHIFT: u32 = 4;
/// Number of size classes: 16 B (class 0) to 2 GiB (class 27), the most a wasm32 heap can hold.
const CLASSES: usize = 28;
/// The WebAssembly page size, the unit [`Pages::grow`] counts in.
const PAGE: usize = 1 << 16;

/// A source of fresh memory, as `memory.grow`.
pub(crate) trait Pages {
    /// Adds `pages * PAGE` bytes and returns their address, which is a multiple of [`PAGE`], or
    /// `None` when out of memory. The memory must be writable and must never be handed to
    /// anybody else.
    fn grow(&mut self, pages: usize) -> Option<usize>;
}

/// The size class of a layout, or `None` when it is larger than the largest class.
pub(crate) fn class(layout: Layout) -> Option<usize> {
    let size = layout
        .size()
        .max(layout.align())
        .max(1 << MIN_SHIFT)
        .checked_next_power_of_two()?;
    let class = (size.trailing_zeros() - MIN_SHIFT) as usize;
    (class < CLASSES).then_some(class)
}

/// Segregated free lists over memory from `P`. Addresses are plain `usize`s; `0` (which no
/// [`Pages::grow`] returns) ends a list.
pub(crate) struct Heap<P> {
    pages: P,
    /// The first free block of each class; each free block holds the address of the next.
    free: [usize; CLASSES],
    /// Not yet carved memory: `top..end`.
    top: usize,
    end: usize,
}

impl<P: Pages> Heap<P> {
    pub(crate) const fn new(pages: P) -> Self {
        Heap {
            pages,
            free: [0; CLASSES],
            top: 0,
            end: 0,
        }
    }

    /// A block of `class`, naturally aligned, or `0` when out of memory.
    ///
    /// # Safety
    /// The free lists must only hold blocks given back by [`Heap::free`] (the contract of
    /// `GlobalAlloc::dealloc`), so that their first word is ours to read.
    pub(crate) unsafe fn alloc(&mut self, class: usize) -> usize {
        let Some(head) = self.free.get_mut(class) else {
            return 0;
        };
        if *head != 0 {
            let block = *head;
            // SAFETY: `block` heads a free list: a free block of ours, at least 16 bytes and
            // aligned to 16, whose first word `push` wrote.
            *head = unsafe { core::ptr::with_exposed_provenance::<usize>(block).read() };
            return block;
        }
        self.carve(16 << class).unwrap_or(0)
    }

    /// Gives back a block that [`Heap::alloc`] returned for `class`.
    ///
    /// # Safety
    /// `block` came from [`Heap::alloc`] with the same `class` and is no longer used.
    pub(crate) unsafe fn free(&mut self, block: usize, class: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { self.push(block, class) }
    }

    /// Moves or keeps `block` (of `old` class, `keep` bytes of it in use) for the `new` class.
    /// Returns the block that now holds the `keep` bytes, or `0` (and `block` untouched) when out
    /// of memory.
    ///
    /// # Safety
    /// As [`Heap::free`] for `block` and `old`; `keep` is at most the size of both classes.
    pub(crate) unsafe fn realloc(
        &mut self,
        block: usize,
        old: usize,
        new: usize,
        keep: usize,
    ) -> usize {
        if old == new {
            return block;
        }
        // SAFETY: the lists hold only freed blocks (caller's contract).
        let moved = unsafe { self.alloc(new) };
        if moved != 0 {
            // SAFETY: both are live blocks of ours, distinct, each at least `keep` bytes long.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    core::ptr::with_exposed_provenance::<u8>(block),
                    core::ptr::with_exposed_provenance_mut::<u8>(moved),
                    keep,
                );
                self.push(block, old);
            }
        }
        moved
    }

    /// Cuts a block of `size` (a power of two, 16 or more) from the top of the heap, growing it
    /// when needed.
    fn carve(&mut self, size: usize) -> Option<usize> {
        loop {
            let start = self.top.checked_add(size - 1)? & !(size - 1);
            let stop = start.checked_add(size)?;
            if stop <= self.end {
                // The alignment gap `top..start` becomes free blocks: each step takes the largest
                // naturally aligned block at `top`, which is smaller than `size` (else `top`
                // would already be aligned) and so fits before `start`.
                while self.top < start {
                    let gap = self.top & self.top.wrapping_neg();
                    let class = (gap.trailing_zeros() - MIN_SHIFT) as usize;
                    // SAFETY: `top..top + gap` is uncarved memory of ours, 16-aligned (pages are
                    // 64 KiB-aligned and every cut is a multiple of 16).
                    unsafe { self.push(self.top, class) };
                    self.top += gap;
                }
                self.top = stop;
                return Some(start);
            }
            // Grow by what the block needs beyond `end`, assuming the new pages follow on. When
            // they do not (someone else grew the memory), the old tail is dropped and the loop
            // tries again from the new pages.
            let pages = (stop - self.end).div_ceil(PAGE);
            let base = self.pages.grow(pages)?;
            if base != self.end {
                self.top = base;
            }
            self.end = base.checked_add(pages * PAGE)?;
        }
    }

    /// Puts `block` on the free list of `class`.
    ///
    /// # Safety
    /// `block` is memory of ours of at least `16 << class` bytes, aligned to 16, that nobody uses.
    unsafe fn push(&mut self, block: usize, class: usize) {
        if let Some(head) = self.free.get_mut(class) {
            // SAFETY: the caller gives us the block; its first word becomes the link.
            unsafe { core::ptr::with_exposed_provenance_mut::<usize>(block).write(*head) };
            *head = block;
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use super::{class, Heap, Pages, PAGE};
    use core::alloc::{GlobalAlloc, Layout};
    use core::cell::UnsafeCell;

    #[cfg(target_feature = "atomics")]
    compile_error!("the allocator assumes a single thread: build without the atomics feature");

    /// The linear memory, grown a page at a time.
    struct Memory;

    impl Pages for Memory {
        fn grow(&mut self, pages: usize) -> Option<usize> {
            let old = core::arch::wasm32::memory_grow(0, pages);
            if old == usize::MAX {
                None
            } else {
                old.checked_mul(PAGE)
            }
        }
    }

    struct Allocator(UnsafeCell<Heap<Memory>>);

    // SAFETY: wasm32-unknown-unknown without the atomics feature (checked above) runs one thread,
    // and the heap never calls out, so there is never a second reference to it.
    unsafe impl Sync for Allocator {}

    impl Allocator {
        #[allow(clippy::mut_from_ref)]
        fn heap(&self) -> &mut Heap<Memory> {
            // SAFETY: single thread, no reentrancy (see `Sync`): this is the only live reference.
            unsafe { &mut *self.0.get() }
        }
    }

    // SAFETY: blocks are naturally aligned to their class size, which is at least the layout's
    // size and alignment; a block is on a free list only after `dealloc` or a moving `realloc`.
    unsafe impl GlobalAlloc for Allocator {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            match class(layout) {
                // SAFETY: the lists hold only blocks given back through `dealloc`/`realloc`.
                Some(c) => core::ptr::with_exposed_provenance_mut(unsafe { self.heap().alloc(c) }),
                None => core::ptr::null_mut(),
            }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if let Some(c) = class(layout) {
                // SAFETY: `ptr` came from `alloc` with this layout, hence this class.
                unsafe { self.heap().free(ptr.expose_provenance(), c) }
            }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: the caller guarantees `new_size` with this alignment is a valid layout.
            let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            match (class(layout), class(new)) {
                // SAFETY: `ptr` came from `alloc` with `layout`; `keep` fits both blocks.
                (Some(old), Some(new)) => core::ptr::with_exposed_provenance_mut(unsafe {
                    let keep = layout.size().min(new_size);
                    self.heap().realloc(ptr.expose_provenance(), old, new, keep)
                }),
                _ => core::ptr::null_mut(),
            }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Allocator = Allocator(UnsafeCell::new(Heap::new(Memory)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// `PAGE`-aligned pages from one `Vec`, handed out in order like `memory.grow`.
    struct Arena {
        _buf: Vec<u8>,
        base: usize,
        pages: usize,
        max_pages: usize,
    }

    impl Arena {
        fn new(max_pages: usize) -> Arena {
            let mut buf = vec![0u8; (max_pages + 1) * PAGE];
            let addr = buf.as_mut_ptr().expose_provenance();
            Arena {
                _buf: buf,
                base: addr.next_multiple_of(PAGE),
                pages: 0,
                max_pages,
            }
        }
    }

    impl Pages for &mut Arena {
        fn grow(&mut self, pages: usize) -> Option<usize> {
            if self.pages + pages > self.max_pages {
                return None;
            }
            let addr = self.base + self.pages * PAGE;
            self.pages += pages;
            Some(addr)
        }
    }

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> usize {
            (self.next() % n) as usize
        }
        /// Mostly small sizes, as a pixel allocates, sometimes up to 100 KB.
        fn layout(&mut self) -> Layout {
            let size = match self.below(10) {
                0..=5 => 1 + self.below(64),
                6..=8 => 1 + self.below(5000),
                _ => 1 + self.below(100_000),
            };
            let align = 1 << [0, 0, 0, 2, 3, 3, 4, 6, 12, 16][self.below(10)];
            Layout::from_size_align(size, align).unwrap()
        }
    }

    fn bytes(addr: usize, len: usize) -> &'static mut [u8] {
        unsafe { std::slice::from_raw_parts_mut(std::ptr::with_exposed_provenance_mut(addr), len) }
    }

    struct Live {
        layout: Layout,
        tag: u8,
    }

    /// Allocates, checks alignment, bounds and overlap with `live`, fills with `tag`.
    fn checked_alloc(
        heap: &mut Heap<&mut Arena>,
        live: &mut BTreeMap<usize, Live>,
        layout: Layout,
        tag: u8,
    ) -> usize {
        let addr = unsafe { heap.alloc(class(layout).unwrap()) };
        note_alloc(heap, live, addr, layout, tag);
        addr
    }

    fn note_alloc(
        heap: &Heap<&mut Arena>,
        live: &mut BTreeMap<usize, Live>,
        addr: usize,
        layout: Layout,
        tag: u8,
    ) {
        assert_ne!(addr, 0, "out of memory for {layout:?}");
        assert_eq!(addr % layout.align(), 0, "{layout:?} at {addr:#x}");
        let arena = &heap.pages;
        assert!(addr >= arena.base && addr + layout.size() <= arena.base + arena.pages * PAGE);
        if let Some((&prev, l)) = live.range(..=addr).next_back() {
            assert!(
                prev + l.layout.size() <= addr,
                "overlaps the block at {prev:#x}"
            );
        }
        if let Some((&next, _)) = live.range(addr..).next() {
            assert!(
                addr + layout.size() <= next,
                "overlaps the block at {next:#x}"
            );
        }
        bytes(addr, layout.size()).fill(tag);
        live.insert(addr, Live { layout, tag });
    }

    fn check_intact(addr: usize, l: &Live, len: usize) {
        assert!(
            bytes(addr, len).iter().all(|&b| b == l.tag),
            "block at {addr:#x} was overwritten"
        );
    }

    #[test]
    fn classes() {
        let c = |size, align| class(Layout::from_size_align(size, align).unwrap());
        assert_eq!(c(1, 1), Some(0));
        assert_eq!(c(16, 8), Some(0));
        assert_eq!(c(17, 1), Some(1));
        assert_eq!(c(4096, 1), Some(8));
        assert_eq!(c(8, 64), Some(2));
        assert_eq!(c(0, 4096), Some(8));
        assert_eq!(c(1 << 31, 1), Some(27));
        assert_eq!(c((1 << 31) + 1, 1), None);
    }

    #[test]
    fn freed_blocks_are_reused() {
        let mut arena = Arena::new(64);
        let mut heap = Heap::new(&mut arena);
        unsafe {
            let a = heap.alloc(3);
            let b = heap.alloc(3);
            assert_eq!(b, a + 128);
            heap.free(a, 3);
            assert_eq!(heap.alloc(3), a);
            // Same class: realloc keeps the block; another class: it moves and frees the old one.
            assert_eq!(heap.realloc(a, 3, 3, 100), a);
            let moved = heap.realloc(a, 3, 5, 128);
            assert_ne!(moved, a);
            assert_eq!(heap.alloc(3), a);
        }
        assert_eq!(arena.pages, 1);
    }

    #[test]
    fn alignment_gaps_become_free_blocks() {
        let mut arena = Arena::new(64);
        let mut heap = Heap::new(&mut arena);
        unsafe {
            let small = heap.alloc(0); // 16 B at the page start
            let big = heap.alloc(8); // 4 KiB: skips 4080 bytes
            assert_eq!(big, small + 4096);
            // The gap 16..4096 was cut into 16, 32, ... 2048 B blocks, one per class.
            for class in 0..8 {
                assert_eq!(heap.alloc(class), small + (16 << class));
            }
        }
        assert_eq!(arena.pages, 1);
    }

    #[test]
    fn blocks_larger_than_a_page() {
        let mut arena = Arena::new(64);
        let mut heap = Heap::new(&mut arena);
        unsafe {
            let a = heap.alloc(0);
            let big = heap.alloc(13); // 128 KiB, 128 KiB-aligned
            assert_eq!(big % (128 << 10), 0);
            assert!(big > a);
            heap.free(big, 13);
            assert_eq!(heap.alloc(13), big);
        }
        assert!(arena.pages <= 4);
    }

    #[test]
    fn out_of_memory_is_null_not_a_panic() {
        let mut arena = Arena::new(4);
        let mut heap = Heap::new(&mut arena);
        unsafe {
            assert_eq!(heap.alloc(14), 0); // 256 KiB > 4 pages
            assert_ne!(heap.alloc(0), 0);
            assert_eq!(heap.alloc(CLASSES), 0);
            let a = heap.alloc(1);
            assert_eq!(heap.realloc(a, 1, 16, 32), 0);
        }
    }

    /// Random alloc/realloc/free sequences: no overlap, alignment kept, data kept across realloc,
    /// and memory bounded by the live set (freed blocks are reused).
    #[test]
    fn random_sequences() {
        for seed in 1..=8u64 {
            let mut arena = Arena::new(1024);
            let mut heap = Heap::new(&mut arena);
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut live: BTreeMap<usize, Live> = BTreeMap::new();
            let mut pages_at_half = 0;
            for step in 0..20_000u32 {
                let tag = (step % 251) as u8 + 1;
                let full = live.len() >= 40;
                match rng.below(4) {
                    0 | 1 if !full => {
                        let layout = rng.layout();
                        checked_alloc(&mut heap, &mut live, layout, tag);
                    }
                    2 if !live.is_empty() => {
                        let &addr = live.keys().nth(rng.below(live.len() as u64)).unwrap();
                        let old = live.remove(&addr).unwrap();
                        let new = Layout::from_size_align(rng.layout().size(), old.layout.align())
                            .unwrap();
                        let keep = old.layout.size().min(new.size());
                        let (oc, nc) = (class(old.layout).unwrap(), class(new).unwrap());
                        let moved = unsafe { heap.realloc(addr, oc, nc, keep) };
                        check_intact(moved, &old, keep);
                        note_alloc(&heap, &mut live, moved, new, tag);
                    }
                    _ if !live.is_empty() => {
                        let &addr = live.keys().nth(rng.below(live.len() as u64)).unwrap();
                        let old = live.remove(&addr).unwrap();
                        check_intact(addr, &old, old.layout.size());
                        unsafe { heap.free(addr, class(old.layout).unwrap()) };
                    }
                    _ => {}
                }
                if step == 10_000 {
                    pages_at_half = heap.pages.pages;
                }
            }
            for (&addr, l) in &live {
                check_intact(addr, l, l.layout.size());
            }
            // At most 40 live blocks of at most 128 KiB (100 KB rounded up) per class: the heap
            // can hold a full live set in each class, not more.
            let pages = heap.pages.pages;
            assert!(pages <= CLASSES * 40 * 2, "seed {seed}: {pages} pages");
            // After 10,000 steps the heap has seen its working set; it grows little more.
            assert!(
                pages <= pages_at_half + 8,
                "seed {seed}: {pages_at_half} -> {pages}"
            );
        }
    }

    /// Allocating and freeing the same shapes over and over never grows the heap.
    #[test]
    fn steady_state_does_not_grow() {
        let mut arena = Arena::new(256);
        let mut heap = Heap::new(&mut arena);
        let mut rng = Rng(42);
        let shapes: Vec<Layout> = (0..32).map(|_| rng.layout()).collect();
        let mut after_first = 0;
        for round in 0..1000 {
            let blocks: Vec<usize> = shapes
                .iter()
                .map(|&l| unsafe { heap.alloc(class(l).unwrap()) })
                .collect();
            assert!(blocks.iter().all(|&b| b != 0));
            for (b, l) in blocks.into_iter().zip(&shapes).rev() {
                unsafe { heap.free(b, class(*l).unwrap()) };
            }
            if round == 0 {
                after_first = heap.pages.pages;
            }
        }
        assert_eq!(heap.pages.pages, after_first);
    }
}
