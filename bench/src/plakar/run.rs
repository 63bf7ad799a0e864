//! One run: one contender, on one link, at one plakar `-concurrency`,
//! through every workload in order, each timed, its requests and the bytes
//! it read counted and its restore checked outside the timing.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kloset_testkit::plakar::Plakar;
use kloset_testkit::{Registry, RegistryOptions};

use super::dataset::{Dataset, Version};
use super::process::Outcome;
use super::requests::AccessLog;
use super::{
    dataset, process, shaper, Contender, DatasetSize, LinkKind, RunRecord, Sample, BACKUP,
    BACKUP_AGAIN, CHECK, CREATE, LS, RESTORE, RESTORE_ONE, RM,
};
use crate::BenchError;

pub(super) struct Run<'a> {
    pub(super) contender: Contender,
    pub(super) link: LinkKind,
    /// plakar's global `-concurrency`, given to every command.
    pub(super) concurrency: u32,
    pub(super) size: DatasetSize,
    pub(super) repeat: usize,
    pub(super) plakar: &'a Plakar,
    pub(super) dataset: &'a Dataset,
    pub(super) scratch: &'a Path,
    pub(super) timeout: Duration,
    /// A peer's command still running after this is stopped and reported
    /// as taking at least this long (`--peer-cutoff`).
    pub(super) cutoff: Option<Duration>,
}

impl Run<'_> {
    pub(super) fn go(&self) -> Result<RunRecord, BenchError> {
        let load_before = load();
        let name = format!(
            "{}-{}-c{}-{}",
            self.contender.name(),
            self.link.name(),
            self.concurrency,
            self.repeat
        );
        let registry = match self.contender.uses_registry() {
            false => None,
            true => {
                Some(Registry::try_start(RegistryOptions::default()).map_err(BenchError::Setup)?)
            }
        };
        // Each run gets a link of its own, so no connection of an earlier
        // run shares its rate.
        let link = match (&registry, self.link.shape()) {
            (Some(r), Some(shape)) => Some(shaper::Link::start(&r.authority(), shape)?),
            _ => None,
        };
        let fs_store = self.scratch.join(format!("fs-store-{name}"));
        // A run that fails part-way leaves no 1 GiB store behind for the
        // runs after it (a peer's failure does not stop the bench).
        let _fs_store_left = RemovedOnDrop(&fs_store);
        let location = match (&registry, &link) {
            (_, Some(link)) => format!("oci://{}/kloset-bench/{name}", link.authority),
            (Some(r), None) => format!("oci://{}/kloset-bench/{name}", r.authority()),
            (None, _) if self.contender == Contender::FsPlugin => {
                format!("fsplugin://{}", fs_store.display())
            }
            (None, _) => fs_store.to_string_lossy().into_owned(),
        };
        let log = registry.as_ref().map(|r| AccessLog::new(&r.log_path()));
        let plugins = self.plakar.home().join("cache/plakar/plugins");
        // A command stopped at the cut-off may leave its lock behind: the
        // commands after it run without locks.
        let cut_before = std::cell::Cell::new(false);
        let step = |workload: &'static str,
                    args: &[&str],
                    env: &[(&str, &str)],
                    bytes: Option<u64>|
         -> Result<(Sample, Outcome), BenchError> {
            let mark = log.as_ref().map(AccessLog::mark);
            let mut command: Command = self.plakar.command();
            // A global flag: it goes before `at` (plakar v1.1.4 main.go;
            // the command runs in this process, `plakar cached` only
            // rebuilds state, so the flag reaches the workers).
            command
                .arg("-concurrency")
                .arg(self.concurrency.to_string());
            command.arg("at").arg(&location).args(args);
            command.envs(env.iter().copied());
            if cut_before.get() {
                command.env("PLAKAR_LOCKLESS", "true");
            }
            let outcome = process::measure(command, workload, &plugins, self.timeout, self.cutoff)?;
            cut_before.set(cut_before.get() || outcome.cut_off);
            let requests = log.as_ref().zip(mark).map(|(log, mark)| log.since(mark));
            Ok((
                Sample {
                    workload,
                    seconds: outcome.seconds,
                    bytes,
                    requests,
                    plakar_peak_bytes: outcome.plakar_peak,
                    plugin_peak_bytes: outcome.plugin_peak,
                    cut_off: outcome.cut_off,
                },
                outcome,
            ))
        };
        let shape = &self.dataset.shape;
        let live = self.dataset.live().to_string_lossy().into_owned();
        let mut samples = Vec::new();

        samples.push(step(CREATE, &["create"], &[], None)?.0);
        let (sample, first) = self.dataset.with(Version::Base, || {
            step(BACKUP, &["backup", &live], &[], Some(shape.bytes))
        })??;
        samples.push(sample);
        let first_id = snapshot_id(&whole(first)?)?;
        let (sample, second) = self.dataset.with(Version::Changed, || {
            step(
                BACKUP_AGAIN,
                &["backup", &live],
                &[],
                Some(shape.changed_version_bytes),
            )
        })??;
        samples.push(sample);
        let second_id = snapshot_id(&whole(second)?)?;
        let stored_bytes = match &registry {
            Some(r) => dir_bytes(r.root_dir()),
            None => dir_bytes(&fs_store),
        };

        let (sample, listed) = step(LS, &["ls"], &[], None)?;
        samples.push(sample);
        for id in [&first_id, &second_id] {
            if !listed.cut_off && !listed.stdout.contains(id.as_str()) {
                return Err(BenchError::Check(format!(
                    "ls does not show snapshot {id}:\n{}",
                    listed.stdout
                )));
            }
        }

        let mut verified = 0;
        let restored = self.scratch.join(format!("restore-{name}"));
        // A failed run of a peer, run once more, may have left one behind.
        remove(&restored)?;
        let to = restored.to_string_lossy().into_owned();
        let (sample, restore) = step(
            RESTORE,
            &["restore", "-to", &to, &second_id],
            &[],
            Some(shape.changed_version_bytes),
        )?;
        samples.push(sample);
        if !restore.cut_off {
            dataset::verify(&self.dataset.changed_entries, &restored)?;
            verified += 1;
        }
        remove(&restored)?;

        let one = self.scratch.join(format!("one-{name}"));
        remove(&one)?;
        let target = format!(
            "{second_id}:{}",
            self.dataset
                .live()
                .join(&self.dataset.single_file)
                .display()
        );
        let (sample, restore_one) = step(
            RESTORE_ONE,
            &["restore", "-to", &one.to_string_lossy(), &target],
            &[],
            None,
        )?;
        samples.push(sample);
        let file_name = self
            .dataset
            .single_file
            .file_name()
            .expect("a file name")
            .into();
        let want = std::iter::once((
            file_name,
            self.dataset
                .changed_entries
                .get(&self.dataset.single_file)
                .cloned()
                .expect("the single file is listed"),
        ))
        .collect();
        if !restore_one.cut_off {
            dataset::verify(&want, &one)?;
            verified += 1;
        }
        remove(&one)?;

        samples.push(step(CHECK, &["check"], &[], Some(shape.changed_version_bytes))?.0);

        // rm, then maintenance twice (the first marks unreferenced
        // packfiles, the second deletes them; grace period 0). Lockless:
        // plakar v1.1.4 often leaves a command's lock behind, with any
        // store (docs/plakar.md).
        let (mut rm, _) = step(RM, &["rm", "-apply", &first_id], &[], None)?;
        for _ in 0..2 {
            let (m, _) = step(
                RM,
                &["maintenance"],
                &[("PLAKAR_GRACEPERIOD", "0s"), ("PLAKAR_LOCKLESS", "true")],
                None,
            )?;
            rm.seconds += m.seconds;
            rm.plakar_peak_bytes = rm.plakar_peak_bytes.max(m.plakar_peak_bytes);
            rm.plugin_peak_bytes = rm.plugin_peak_bytes.max(m.plugin_peak_bytes);
            rm.cut_off |= m.cut_off;
            if let (Some(total), Some(more)) = (&mut rm.requests, m.requests) {
                total.total += more.total;
                total.response_bytes += more.response_bytes;
                for (method, n) in more.by_method {
                    *total.by_method.entry(method).or_insert(0) += n;
                }
            }
        }
        // An rm or maintenance stopped at the cut-off proves nothing here.
        let rm_ended = !rm.cut_off;
        samples.push(rm);
        let left = self.plakar.at(&location, &["ls"]);
        if rm_ended
            && (!left.ok
                || left.stdout.contains(first_id.as_str())
                || !left.stdout.contains(second_id.as_str()))
        {
            return Err(BenchError::Check(format!(
                "after rm {first_id}, ls shows:\n{}",
                left.text()
            )));
        }

        drop(link);
        drop(registry);
        remove(&fs_store)?;
        Ok(RunRecord {
            link: self.link,
            concurrency: self.concurrency,
            dataset: self.size,
            contender: self.contender,
            repeat: self.repeat,
            samples,
            stored_bytes,
            load_before,
            load_after: load(),
            restores_verified: verified,
        })
    }
}

/// Removes `dir` and what it holds; one that is not there is fine.
fn remove(dir: &Path) -> Result<(), BenchError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(BenchError::Setup(format!(
            "removing {}: {e}",
            dir.display()
        ))),
        _ => Ok(()),
    }
}

/// A backup's outcome, which must have run to its end: the workloads
/// after it need its snapshot.
fn whole(backup: Outcome) -> Result<Outcome, BenchError> {
    if backup.cut_off {
        return Err(BenchError::Check(format!(
            "a backup did not end by the peer cut-off ({:.0} s)",
            backup.seconds
        )));
    }
    Ok(backup)
}

/// The snapshot a backup made, from its last line (`ID: backup completed
/// ...`).
fn snapshot_id(backup: &Outcome) -> Result<String, BenchError> {
    format!("{}{}", backup.stdout, backup.stderr)
        .lines()
        .find(|l| l.contains("backup completed"))
        .and_then(|l| l.split(':').next())
        .map(|id| id.trim().to_string())
        .filter(|id| id.len() == 8 && id.chars().all(|c| c.is_ascii_hexdigit()))
        .ok_or_else(|| {
            BenchError::Check(format!(
                "no snapshot id in the backup's output:\n{}{}",
                backup.stdout, backup.stderr
            ))
        })
}

/// The 1-minute load average.
fn load() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Apparent size of the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// A folder removed (if there) when this goes out of scope, however the
/// scope ends.
struct RemovedOnDrop<'a>(&'a Path);

impl Drop for RemovedOnDrop<'_> {
    fn drop(&mut self) {
        if self.0.exists() {
            let _ = std::fs::remove_dir_all(self.0);
        }
    }
}
