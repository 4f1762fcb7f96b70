//! Progress for long steps: an indicatif spinner on a terminal, plain lines
//! otherwise (CI logs).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

/// One long step. `done` reports success; dropping it unfinished (an early
/// return on error) reports the failure and clears the spinner.
pub struct Step {
    message: String,
    started: Instant,
    bar: Option<ProgressBar>,
    finished: bool,
}

impl Step {
    pub fn start(message: impl Into<String>) -> Self {
        let message = message.into();
        let bar = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .expect("a valid progress template"),
            );
            bar.set_message(message.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            Some(bar)
        } else {
            eprintln!("... {message}");
            None
        };
        Step {
            message,
            started: Instant::now(),
            bar,
            finished: false,
        }
    }

    /// Adds a detail to the spinner's message (on a terminal only, so that CI
    /// logs stay short).
    pub fn update(&self, detail: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{} ({detail})", self.message));
        }
    }

    /// Whether a spinner shows the step (stderr is a terminal).
    pub fn on_terminal(&self) -> bool {
        self.bar.is_some()
    }

    pub fn done(mut self, outcome: &str) {
        self.finished = true;
        self.clear();
        let secs = self.started.elapsed().as_secs_f32();
        let sep = if outcome.is_empty() { "" } else { ": " };
        eprintln!("ok  {}{sep}{outcome} ({secs:.1}s)", self.message);
    }

    /// Reports a step that could not be done but is not an error (yet).
    pub fn skipped(mut self, why: &str) {
        self.finished = true;
        self.clear();
        eprintln!("--  {}: {why}", self.message);
    }

    fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if !self.finished {
            self.clear();
            eprintln!("FAILED {}", self.message);
        }
    }
}
