use std::alloc::{GlobalAlloc, Layout};

use super::{Arena, ARENA_BYTES};

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).expect("a valid layout")
}

#[test]
fn blocks_are_aligned_disjoint_and_inside_the_arena() {
    let arena = Arena::new();
    let mut blocks = Vec::new();
    for (index, (size, align)) in [
        (1, 1),
        (3, 2),
        (24, 8),
        (100, 16),
        (7, 64),
        (5000, 4096),
        (1, 1),
    ]
    .into_iter()
    .enumerate()
    {
        let shape = layout(size, align);
        let block = unsafe { arena.alloc(shape) };
        assert!(!block.is_null());
        assert_eq!(block as usize % align, 0, "alignment of block {index}");
        assert!(arena.owns(block), "block {index} comes from the arena");
        unsafe { block.write_bytes(index as u8 + 1, size) };
        blocks.push((block, shape, index as u8 + 1));
    }
    // Every block still holds what was written to it: none overlapped another.
    for (block, shape, fill) in &blocks {
        let bytes = unsafe { std::slice::from_raw_parts(*block, shape.size()) };
        assert!(bytes.iter().all(|byte| byte == fill));
    }
    for (block, shape, _) in blocks.into_iter().rev() {
        unsafe { arena.dealloc(block, shape) };
    }
}

#[test]
fn the_latest_block_gives_its_space_back_and_grows_in_place() {
    let arena = Arena::new();
    let first = unsafe { arena.alloc(layout(16, 8)) };
    let second = unsafe { arena.alloc(layout(32, 8)) };
    unsafe { arena.dealloc(second, layout(32, 8)) };
    let again = unsafe { arena.alloc(layout(32, 8)) };
    assert_eq!(again, second, "the freed top block is reused");

    unsafe { again.write_bytes(0xab, 32) };
    let grown = unsafe { arena.realloc(again, layout(32, 8), 4096) };
    assert_eq!(grown, again, "the top block grows where it is");
    let kept = unsafe { std::slice::from_raw_parts(grown, 32) };
    assert!(kept.iter().all(|&byte| byte == 0xab));

    // A block that is not on top moves, keeping its contents.
    unsafe { first.write_bytes(0x5a, 16) };
    let moved = unsafe { arena.realloc(first, layout(16, 8), 64) };
    assert_ne!(moved, first);
    let contents = unsafe { std::slice::from_raw_parts(moved, 16) };
    assert!(contents.iter().all(|&byte| byte == 0x5a));
    unsafe {
        arena.dealloc(moved, layout(64, 8));
        arena.dealloc(grown, layout(4096, 8));
    }
}

#[test]
fn zeroed_blocks_are_zero_even_where_space_was_given_back() {
    let arena = Arena::new();
    let dirty = unsafe { arena.alloc(layout(256, 8)) };
    unsafe {
        dirty.write_bytes(0xff, 256);
        arena.dealloc(dirty, layout(256, 8));
    }
    let zeroed = unsafe { arena.alloc_zeroed(layout(256, 8)) };
    assert_eq!(zeroed, dirty, "the same space, handed out again");
    let bytes = unsafe { std::slice::from_raw_parts(zeroed, 256) };
    assert!(bytes.iter().all(|&byte| byte == 0));
    unsafe { arena.dealloc(zeroed, layout(256, 8)) };
}

#[test]
fn what_the_arena_cannot_hold_comes_from_the_c_library() {
    let arena = Arena::new();
    let small = unsafe { arena.alloc(layout(64, 8)) };
    assert!(arena.owns(small));
    let huge = layout(ARENA_BYTES, 8); // more than is left after `small`
    let outside = unsafe { arena.alloc(huge) };
    assert!(!outside.is_null());
    assert!(!arena.owns(outside), "the C library's block");
    unsafe { outside.write_bytes(1, 4096) };
    // A block growing past the arena's end moves out of it, contents kept.
    unsafe { small.write_bytes(7, 64) };
    let grown = unsafe { arena.realloc(small, layout(64, 8), ARENA_BYTES + 4096) };
    assert!(!arena.owns(grown));
    let kept = unsafe { std::slice::from_raw_parts(grown, 64) };
    assert!(kept.iter().all(|&byte| byte == 7));
    unsafe {
        arena.dealloc(outside, huge);
        arena.dealloc(grown, layout(ARENA_BYTES + 4096, 8));
    }
}

#[test]
fn threads_allocating_at_once_never_share_a_byte() {
    let arena = Arena::new();
    let blocks_per_thread = 2_000;
    std::thread::scope(|scope| {
        let workers: Vec<_> = (1..=4u8)
            .map(|fill| {
                let arena = &arena;
                scope.spawn(move || {
                    let mut mine = Vec::with_capacity(blocks_per_thread);
                    for round in 0..blocks_per_thread {
                        let shape = layout(8 + round % 40, 8);
                        let block = unsafe { arena.alloc(shape) };
                        assert!(arena.owns(block));
                        unsafe { block.write_bytes(fill, shape.size()) };
                        mine.push((block as usize, shape));
                    }
                    // Checked after every thread had the chance to write: any overlap shows.
                    (fill, mine)
                })
            })
            .collect();
        let results: Vec<_> = workers
            .into_iter()
            .map(|worker| worker.join().expect("no worker panics"))
            .collect();
        for (fill, mine) in results {
            for (block, shape) in mine {
                let bytes = unsafe { std::slice::from_raw_parts(block as *const u8, shape.size()) };
                assert!(
                    bytes.iter().all(|&byte| byte == fill),
                    "thread {fill}'s block"
                );
            }
        }
    });
}

#[test]
fn zeroed_blocks_past_everything_handed_out_are_not_written() {
    let arena = Arena::new();
    let first = unsafe { arena.alloc(layout(100, 8)) };
    unsafe { first.write_bytes(0xee, 100) };
    let (block, used_before) = arena.claim(layout(1 << 20, 4096));
    assert_eq!(
        used_before, 0,
        "a block past the high-water mark is untouched, so zero"
    );
    let bytes = unsafe { std::slice::from_raw_parts(block, 1 << 20) };
    assert!(bytes.iter().all(|&byte| byte == 0));
    unsafe { arena.dealloc(block, layout(1 << 20, 4096)) };
    // Given back and claimed again: the part handed out before is reported, and zeroed.
    let (again, used_before) = arena.claim(layout(64, 4096));
    assert_eq!(again, block);
    assert_eq!(used_before, 64);
}
