//! The catalog the router serves from: the built-in one merged with the operator's file, and
//! re-read when that file changes, without a restart. A file that does not parse (or whose
//! successors do not check out) leaves the catalog in use as it was: a reload swaps the whole
//! catalog or nothing.
//!
//! Requests borrow models and offers from the catalog for as long as they run (a stream for
//! minutes), so a catalog, once served, is never freed: each reload that changes something
//! keeps the previous catalog alive for the life of the process. Reloads are operator edits
//! (the file's contents must differ, not just its timestamp), and a catalog is a few hundred
//! kilobytes, so this costs little and keeps every borrow plain and safe.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keyroute_wire::catalog::lifecycle::civil_date;
use keyroute_wire::catalog::{
    Catalog, CatalogError, Model, Resolution, RetiredModel, UnknownModel,
};
use tokio::sync::watch;

/// Today's UTC date as `YYYY-MM-DD`: retirement is decided at request time, by this clock.
pub type Clock = Arc<dyn Fn() -> String + Send + Sync>;

/// The system clock's UTC date.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        civil_date(i64::try_from(seconds / 86_400).unwrap_or(i64::MAX))
    })
}

/// How many reloads were tried, as a channel tests and metrics watch instead of sleeping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reloads {
    /// Catalogs read from a changed file and put in use.
    pub loaded: u64,
    /// Changed files refused; the catalog in use stayed.
    pub failed: u64,
}

/// Why the operator's catalog could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("catalog {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("catalog {path}: {error}")]
    Invalid { path: String, error: CatalogError },
}

/// The file being watched and what was last seen of it.
#[derive(Debug)]
struct Watched {
    path: PathBuf,
    text: String,
}

/// The catalog in use, swapped whole on reload.
pub struct LiveCatalog {
    current: RwLock<&'static Catalog>,
    file: Option<Mutex<Watched>>,
    clock: Clock,
    reloads: watch::Sender<Reloads>,
}

impl std::fmt::Debug for LiveCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCatalog")
            .field("models", &self.current().models().len())
            .field("file", &self.file)
            .field("reloads", &*self.reloads.borrow())
            .finish_non_exhaustive()
    }
}

/// The built-in catalog with the operator's file merged in, checked as a whole.
fn build(path: &Path, text: &str) -> Result<Catalog, LoadError> {
    let invalid = |error| LoadError::Invalid {
        path: path.display().to_string(),
        error,
    };
    let catalog = Catalog::builtin()
        .map_err(invalid)?
        .merged(Catalog::from_json(text).map_err(invalid)?);
    catalog.check_successors().map_err(invalid)?;
    Ok(catalog)
}

impl LiveCatalog {
    /// A fixed catalog: nothing to watch.
    pub fn fixed(catalog: Catalog) -> Self {
        Self {
            current: RwLock::new(Box::leak(Box::new(catalog))),
            file: None,
            clock: system_clock(),
            reloads: watch::channel(Reloads::default()).0,
        }
    }

    /// The built-in catalog, merged with the operator's file if there is one. Startup refuses
    /// a file that cannot be read or does not check out.
    pub fn open(path: Option<&Path>) -> Result<Self, LoadError> {
        let Some(path) = path else {
            let builtin = Catalog::builtin().map_err(|error| LoadError::Invalid {
                path: "(built in)".into(),
                error,
            })?;
            return Ok(Self::fixed(builtin));
        };
        let read = |error| LoadError::Read {
            path: path.display().to_string(),
            error,
        };
        let text = std::fs::read_to_string(path).map_err(read)?;
        let catalog = build(path, &text)?;
        let mut live = Self::fixed(catalog);
        live.file = Some(Mutex::new(Watched {
            path: path.to_owned(),
            text,
        }));
        Ok(live)
    }

    /// Decides "today" with this clock instead of the system's (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The catalog in use now. Borrows stay valid however many reloads follow.
    pub fn current(&self) -> &'static Catalog {
        *self.current.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The models of the catalog in use.
    pub fn models(&self) -> &'static [Model] {
        self.current().models()
    }

    /// One model of the catalog in use.
    pub fn model(&self, id: &str) -> Option<&'static Model> {
        self.current().model(id)
    }

    /// Resolves a requested id against the catalog in use.
    pub fn resolve(&self, requested: &str) -> Result<Resolution<'static>, UnknownModel> {
        self.current().resolve(requested)
    }

    /// Today's date by this catalog's clock.
    pub fn today(&self) -> String {
        (self.clock)()
    }

    /// Refuses a catalog model retired by today.
    pub fn check_retired(&self, id: &str) -> Result<(), RetiredModel> {
        self.current().check_retired(id, &self.today())
    }

    /// Reload attempts so far; `changed()` on a clone wakes on the next one.
    pub fn subscribe(&self) -> watch::Receiver<Reloads> {
        self.reloads.subscribe()
    }

    /// Reload attempts so far.
    pub fn reloads(&self) -> Reloads {
        *self.reloads.borrow()
    }

    /// Reads the file once: if its contents differ from the catalog in use, checks them and
    /// swaps them in. The contents decide, not the size and time: a same-size file replaced
    /// within one timestamp tick is still seen, and a few hundred kilobytes every few
    /// seconds is cheap. A bad file is logged and counted and the catalog in use stays.
    /// Returns whether a new catalog is in use.
    pub fn poll(&self) -> bool {
        let Some(file) = &self.file else {
            return false;
        };
        let mut watched = file.lock().unwrap_or_else(|p| p.into_inner());
        let path = watched.path.clone();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) => {
                tracing::debug!(path = %path.display(), %error, "catalog file not readable now");
                return false;
            }
        };
        if text == watched.text {
            return false;
        }
        watched.text = text;
        match build(&path, &watched.text) {
            Ok(catalog) => {
                let models = catalog.models().len();
                *self.current.write().unwrap_or_else(|p| p.into_inner()) =
                    Box::leak(Box::new(catalog));
                tracing::info!(path = %path.display(), models, "catalog reloaded");
                self.reloads.send_modify(|r| r.loaded += 1);
                true
            }
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "catalog file refused; keeping the catalog in use");
                self.reloads.send_modify(|r| r.failed += 1);
                false
            }
        }
    }

    /// Polls the operator's file every `interval` until the task is aborted; no task without
    /// a file.
    pub fn spawn_watcher(
        self: &Arc<Self>,
        interval: Duration,
    ) -> Option<tokio::task::JoinHandle<()>> {
        self.file.as_ref()?;
        let live = Arc::clone(self);
        Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let live = Arc::clone(&live);
                // File reads block: off the async workers.
                if tokio::task::spawn_blocking(move || live.poll())
                    .await
                    .is_err()
                {
                    tracing::error!("catalog reload panicked");
                }
            }
        }))
    }
}
