//! What the operator tools print: a reader that closes the pipe early (`| head`) ends the
//! tool quietly instead of a panic; a server's messages are dropped instead.

use std::io::{ErrorKind, Write};

/// Prints a line for a tool: on a closed pipe the tool stops, successfully (its reader has
/// what it wanted).
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::tool_line(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// Prints a line for a server: if stdout is gone the line is dropped, the server carries on.
macro_rules! tell {
    ($($arg:tt)*) => {
        $crate::output::server_line(format_args!($($arg)*))
    };
}
pub(crate) use tell;

/// Writes `text` and a newline to stdout for a tool.
pub fn tool_line(text: std::fmt::Arguments<'_>) {
    if let Err(error) = writeln!(std::io::stdout().lock(), "{text}") {
        if error.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {error}");
        std::process::exit(1);
    }
}

/// Writes `text` and a newline to stdout for a server, ignoring a stdout that is gone.
pub fn server_line(text: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}
