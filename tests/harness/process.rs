//! Running the built `wiretape` binary: start it, read its first stdout line, stop it.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

/// A running `wiretape` process, killed on drop.
pub(crate) struct Wiretape {
    /// The process.
    pub(crate) child: Child,
    /// The rest of its stdout.
    pub(crate) stdout: BufReader<ChildStdout>,
    /// The URL of its first line, `listening on URL`.
    pub(crate) url: String,
}

impl Wiretape {
    /// Starts `wiretape ARGS` with `$WIRETAPE_HOME` set to `home` and waits for its first
    /// stdout line (the bound address), so it is ready when this returns.
    pub(crate) fn start(home: &Path, args: &[&str]) -> Self {
        Self::start_command(home, Command::new(env!("CARGO_BIN_EXE_wiretape")), args)
    }

    /// As [`Wiretape::start`], through `sh -c SCRIPT` where the script ends with
    /// `exec "$0" "$@"` (so the pid stays wiretape's): for limits a test sets with `ulimit`.
    pub(crate) fn start_in_shell(home: &Path, script: &str, args: &[&str]) -> Self {
        let mut sh = Command::new("sh");
        sh.args(["-c", script, env!("CARGO_BIN_EXE_wiretape")]);
        Self::start_command(home, sh, args)
    }

    fn start_command(home: &Path, mut command: Command, args: &[&str]) -> Self {
        let mut child = command
            .args(args)
            .env("WIRETAPE_HOME", home)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wiretape");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let url = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                let _ = child.kill();
                let mut err = String::new();
                let _ = std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err);
                panic!("unexpected first line {first:?}; stderr: {err}")
            })
            .to_owned();
        Self { child, stdout, url }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub(crate) fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut err);
        (status, err)
    }

    /// `kill -9`: no chance to finish anything.
    pub(crate) fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Wiretape {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
