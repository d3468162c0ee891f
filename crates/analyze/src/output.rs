//! Where reports write: the report itself (stdout) and diagnostics
//! (stderr), kept apart so stdout stays exactly what the bcc tool prints
//! and can be piped into the same scripts.

use std::io::{self, Write};

use serde::Serialize;

/// The two streams a report writes to.
pub struct Out<'a> {
    /// The report (stdout in the binary).
    pub out: &'a mut dyn Write,
    /// Warnings and notes (stderr in the binary).
    pub err: &'a mut dyn Write,
}

impl<'a> Out<'a> {
    /// Bundles two writers.
    pub fn new(out: &'a mut dyn Write, err: &'a mut dyn Write) -> Self {
        Out { out, err }
    }

    /// Writes a diagnostic line. stdout is flushed first so that, on a
    /// terminal, the line appears next to the output it is about.
    pub fn warn(&mut self, msg: &str) -> io::Result<()> {
        self.out.flush()?;
        writeln!(self.err, "{msg}")?;
        self.err.flush()
    }

    /// Writes a value as pretty JSON followed by a newline.
    pub fn json<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *self.out, value)?;
        writeln!(self.out)
    }
}

/// Whether an error chain ends in a closed pipe (`ktape-analyze … | head`):
/// the reader has what it wants, so that is success, not an error.
pub fn is_broken_pipe(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::BrokenPipe {
                return true;
            }
        }
        if let Some(crate::Error::Output(io)) = e.downcast_ref::<crate::Error>() {
            if io.kind() == io::ErrorKind::BrokenPipe {
                return true;
            }
        }
        cur = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_pipe_is_recognized_through_wrappers() {
        let e = crate::Error::Output(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(&e));
        let e = crate::Error::Output(io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(!is_broken_pipe(&e));
        let e = crate::Error::Usage("x".into());
        assert!(!is_broken_pipe(&e));
    }

    #[test]
    fn warn_goes_to_err() {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let mut out = Out::new(&mut o, &mut e);
        write!(out.out, "a").unwrap();
        out.warn("careful").unwrap();
        assert_eq!(o, b"a");
        assert_eq!(e, b"careful\n");
    }
}
