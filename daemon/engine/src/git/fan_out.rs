//! Several remotes at a time, never all at once: each remote is a `git`
//! (and, over ssh, an `ssh`) process, and a burst is what a laptop's ssh
//! agent, an sshd's `MaxStartups` (by default it starts refusing beyond 10
//! connections that have not logged in yet) and a forge's rate limit mind.
//! A fixed number of workers take the next item as they finish one, so a
//! slow remote holds up one worker, not a whole batch. A caller who set
//! `UV_CONCURRENT_DOWNLOADS` lower (uv's own answer to a server that drops
//! connections) gets that many from hpm too.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::caller::Caller;

/// How many remotes are asked at once, unless the caller asks for fewer.
pub const AT_ONCE: usize = 8;

/// How many remotes `caller`'s jobs ask at once: [`AT_ONCE`], or the
/// caller's `UV_CONCURRENT_DOWNLOADS` when it is lower.
pub fn width(caller: &Caller) -> usize {
    caller
        .var("UV_CONCURRENT_DOWNLOADS")
        .and_then(|value| value.trim().parse::<usize>().ok())
        .filter(|&wanted| wanted > 0)
        .map_or(AT_ONCE, |wanted| wanted.min(AT_ONCE))
}

/// `work` applied to every item, at most [`width`] at a time; the results
/// in the items' order. An item whose work panicked gets `crashed(item)`.
pub fn map<T, R>(
    caller: &Caller,
    items: &[T],
    work: impl Fn(&T) -> R + Sync,
    crashed: impl Fn(&T) -> R,
) -> Vec<R>
where
    T: Sync,
    R: Send,
{
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    let worker = || loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(item) = items.get(index) else {
            return;
        };
        if let Ok(result) = catch_unwind(AssertUnwindSafe(|| work(item))) {
            if let Ok(mut done) = done.lock() {
                done[index] = Some(result);
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..width(caller).min(items.len()) {
            scope.spawn(worker);
        }
    });
    let done = done
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    done.into_iter()
        .zip(items)
        .map(|(result, item)| result.unwrap_or_else(|| crashed(item)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_order_bounds_the_workers_and_survives_a_panic() {
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let items: Vec<usize> = (0..40).collect();
        let results = map(
            &Caller::this_process(),
            &items,
            |&item| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(5));
                running.fetch_sub(1, Ordering::SeqCst);
                assert_ne!(item, 7, "a worker's panic");
                item * 2
            },
            |&item| item + 1000,
        );
        let expected: Vec<usize> = items
            .iter()
            .map(|&item| if item == 7 { 1007 } else { item * 2 })
            .collect();
        assert_eq!(results, expected);
        assert!(most.load(Ordering::SeqCst) <= width(&Caller::this_process()));
        assert!(most.load(Ordering::SeqCst) > 1, "never in parallel");
    }

    #[test]
    fn the_callers_uv_concurrency_lowers_the_width_never_raises_it() {
        let caller = |value: &str| {
            Caller::sent(&hpm_protocol::ClientEnv {
                vars: [("UV_CONCURRENT_DOWNLOADS".to_string(), value.to_string())].into(),
            })
        };
        assert_eq!(width(&caller("3")), 3);
        assert_eq!(width(&caller("50")), AT_ONCE);
        assert_eq!(width(&caller("0")), AT_ONCE);
        assert_eq!(width(&caller("many")), AT_ONCE);
        assert_eq!(
            width(&Caller::sent(&hpm_protocol::ClientEnv::default())),
            AT_ONCE
        );
    }
}
