//! The measurements at one repository size, on one link: `plakar ls`, a
//! small `plakar backup`, one object's delete through the component, and
//! the listings a command pays for (packfiles, as `check` and
//! `maintenance` ask; locks, as every command does). A measurement that
//! fails is a result (its error), not the end of the run: past a
//! registry's limits, failing is what there is to see.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kloset_host::{Mac, Plugin, Resource, StoreHandle};
use kloset_testkit::plakar::Plakar;
use serde::Serialize;

use super::super::{process, LinkKind};
use super::push;

/// One measurement: seconds (the median when repeated), every run's
/// seconds, and the registry requests the store sent; or why it failed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timed {
    pub seconds: Option<f64>,
    pub runs: Vec<f64>,
    pub requests: Option<u64>,
    pub error: Option<String>,
}

impl Timed {
    fn push(&mut self, outcome: Result<(f64, Option<u64>), String>) {
        match outcome {
            Ok((seconds, requests)) => {
                self.runs.push(seconds);
                self.requests = requests.or(self.requests);
                let mut sorted = self.runs.clone();
                sorted.sort_by(f64::total_cmp);
                self.seconds = Some(sorted[sorted.len() / 2]);
            }
            // The first failure is kept: later ones are usually alike.
            Err(why) => {
                self.error.get_or_insert(why);
            }
        }
    }
}

/// Everything measured at one size on one link.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub registry: &'static str,
    pub link: LinkKind,
    /// Synthetic packfiles in the repository (the real objects, a few
    /// dozen, come on top).
    pub synthetic: usize,
    pub ls: Timed,
    pub backup: Timed,
    pub delete: Timed,
    pub packfile_list: Timed,
    /// MACs the packfile listing returned.
    pub packfiles_listed: Option<usize>,
    pub lock_list: Timed,
}

/// What a point is measured with.
pub(super) struct Subject<'a> {
    pub(super) plakar: &'a Plakar,
    pub(super) plugin: &'a Plugin,
    /// `oci://AUTHORITY/REPO` through this link.
    pub(super) location: String,
    /// A few small files backed up by each `backup`.
    pub(super) folder: &'a Path,
    pub(super) repeats: usize,
    /// Deletes timed at this point, of synthetic packfiles from
    /// `first_delete` on (each deleted once, never pushed again).
    pub(super) deletes: usize,
    pub(super) first_delete: usize,
    pub(super) timeout: Duration,
}

impl Subject<'_> {
    pub(super) fn measure(
        &self,
        registry: &'static str,
        link: LinkKind,
        synthetic: usize,
    ) -> Point {
        let mut point = Point {
            registry,
            link,
            synthetic,
            ls: Timed::default(),
            backup: Timed::default(),
            delete: Timed::default(),
            packfile_list: Timed::default(),
            packfiles_listed: None,
            lock_list: Timed::default(),
        };
        let folder = self.folder.to_string_lossy().into_owned();
        for _ in 0..self.repeats {
            point.ls.push(self.plakar_command(&["ls"]));
            point.backup.push(self.plakar_command(&["backup", &folder]));
            point
                .lock_list
                .push(self.list(Resource::Lock).map(|(t, r, _)| (t, r)));
            let listed = self.list(Resource::Packfile);
            if let Ok((_, _, n)) = &listed {
                point.packfiles_listed = Some(*n);
            }
            point.packfile_list.push(listed.map(|(t, r, _)| (t, r)));
        }
        for k in 0..self.deletes {
            point.delete.push(self.delete(self.first_delete + k));
        }
        point
    }

    /// A plakar command against the repository, timed from start to exit.
    /// plakar can exit 0 having failed (a listing refused, say): `ls` must
    /// show a snapshot and `backup` say it completed, or the command's
    /// output is the failure.
    fn plakar_command(&self, args: &[&str]) -> Result<(f64, Option<u64>), String> {
        let mut command: Command = self.plakar.command();
        command.arg("at").arg(&self.location).args(args);
        let plugins = self.plakar.home().join("cache/plakar/plugins");
        let outcome = process::measure(command, args[0], &plugins, self.timeout, None)
            .map_err(|e| one_line(&e.to_string()))?;
        let text = format!("{}{}", outcome.stdout, outcome.stderr);
        let done = match args[0] {
            "ls" => outcome.stdout.lines().any(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|id| id.len() == 8 && id.chars().all(|c| c.is_ascii_hexdigit()))
            }),
            "backup" => text.contains("backup completed"),
            _ => true,
        };
        if !done {
            return Err(format!("exited 0 but: {}", one_line(&text)));
        }
        Ok((outcome.seconds, None))
    }

    /// A fresh store (as a new plakar command has), opened untimed.
    fn store(&self) -> Result<StoreHandle, String> {
        let config = vec![("location".to_string(), self.location.clone())];
        let store = StoreHandle::new(self.plugin, &config).map_err(|e| e.to_string())?;
        store.open().map_err(|e| format!("open: {e}"))?;
        Ok(store)
    }

    fn list(&self, kind: Resource) -> Result<(f64, Option<u64>, usize), String> {
        let store = self.store()?;
        let before = store.requests();
        let start = Instant::now();
        let macs = store
            .list(kind)
            .map_err(|e| format!("list {}: {e}", kind.name()))?;
        let seconds = start.elapsed().as_secs_f64();
        Ok((seconds, Some(store.requests() - before), macs.len()))
    }

    fn delete(&self, index: usize) -> Result<(f64, Option<u64>), String> {
        let store = self.store()?;
        let before = store.requests();
        let start = Instant::now();
        store
            .delete(Resource::Packfile, &Mac(push::mac(index)))
            .map_err(|e| format!("delete: {e}"))?;
        Ok((
            start.elapsed().as_secs_f64(),
            Some(store.requests() - before),
        ))
    }
}

/// plakar's error line (it prints a line per file before it), or the
/// error's last line.
fn one_line(text: &str) -> String {
    text.lines()
        .find(|l| l.trim_start().starts_with("error"))
        .or_else(|| text.lines().rev().find(|l| !l.trim().is_empty()))
        .unwrap_or_default()
        .trim()
        .chars()
        .take(300)
        .collect()
}
