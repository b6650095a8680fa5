//! The daemon's no-op memo: what a plain sync that found nothing to do
//! read, by file stamp. While every stamp is unchanged, the next plain sync
//! has nothing to do either and the daemon answers it without reading a
//! single input (or taking the workspace lock).
//!
//! A file changed in the same clock tick as it was stamped could keep its
//! stamp; like git's "racily clean" index entries, a memo is only kept when
//! every file is older than [`RACY`] at recording time, so the no-op right
//! after a sync that wrote files reads them once more.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use hpm_engine::fsutil::{file_stamp, FileStamp};
use hpm_protocol::report::SyncReport;

/// How old every file must be for its stamp to be trusted.
pub const RACY: Duration = Duration::from_millis(50);

/// A no-op sync's report and the stamps of every file it read.
#[derive(Debug, Clone)]
pub struct NoopMemo {
    paths: Vec<PathBuf>,
    stamps: Vec<FileStamp>,
    report: SyncReport,
}

impl NoopMemo {
    /// Stamps `paths` now; `None` when one of them is too recent to trust.
    pub fn record(paths: Vec<PathBuf>, report: &SyncReport) -> Option<NoopMemo> {
        let stamps: Vec<FileStamp> = paths.iter().map(|path| file_stamp(path)).collect();
        trusted(&stamps, SystemTime::now()).then(|| NoopMemo {
            paths,
            stamps,
            report: report.clone(),
        })
    }

    /// The recorded report, if no file has changed since.
    pub fn report_if_holds(&self) -> Option<SyncReport> {
        let holds = self
            .paths
            .iter()
            .zip(&self.stamps)
            .all(|(path, stamp)| file_stamp(path) == *stamp);
        holds.then(|| self.report.clone())
    }
}

/// The racily-clean rule: stamps taken at `now` are trusted only when every
/// file was last modified at least [`RACY`] before (a time in the future
/// is not trusted either).
fn trusted(stamps: &[FileStamp], now: SystemTime) -> bool {
    stamps
        .iter()
        .flatten()
        .all(|(_, modified, _)| now.duration_since(*modified).is_ok_and(|age| age >= RACY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_trusted_only_when_every_file_is_older_than_the_racy_window() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let at = |ago_ms: u64| Some((1, now - Duration::from_millis(ago_ms), 7));
        assert!(trusted(&[at(50), at(10_000), None], now));
        assert!(!trusted(&[at(10_000), at(49)], now));
        let future = Some((1, now + Duration::from_millis(5), 7));
        assert!(!trusted(&[future], now));
        assert!(trusted(&[], now));
    }
}
