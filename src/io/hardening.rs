//! Process hardening at start-up: no core dumps.
//!
//! A core dump of a process that holds a key holds the key's HMAC
//! midstates (enough to make tokens) and the NHS numbers being processed.
//! At start-up the core size limit is set to 0 (soft and hard) and, on
//! Linux, the process is marked not dumpable (which also keeps other
//! unprivileged processes from reading its memory through ptrace or
//! `/proc`). Both are safe wrappers from `rustix`. On other systems the
//! limit is set where the platform has one; SECURITY.md says what each
//! guarantees.

/// Disables core dumps for this process. Failures are returned, not
/// fatal: the caller warns.
pub fn no_core_dumps() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use rustix::process::{setrlimit, Resource, Rlimit};
        setrlimit(
            Resource::Core,
            Rlimit {
                current: Some(0),
                maximum: Some(0),
            },
        )?;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::process::{set_dumpable_behavior, DumpableBehavior};
        set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The running process (this test's) is left with a core limit of 0
    /// and, on Linux, not dumpable.
    #[test]
    fn cores_are_off_after_start_up() {
        super::no_core_dumps().unwrap();
        #[cfg(unix)]
        {
            let limit = rustix::process::getrlimit(rustix::process::Resource::Core);
            assert_eq!((limit.current, limit.maximum), (Some(0), Some(0)));
        }
        #[cfg(target_os = "linux")]
        assert_eq!(
            rustix::process::dumpable_behavior().unwrap(),
            rustix::process::DumpableBehavior::NotDumpable
        );
    }
}
