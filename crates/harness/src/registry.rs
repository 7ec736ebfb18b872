//! The adapter registry: a harness name becomes an [`Adapter`] once, at the
//! edge, and from then on code holds the adapter, never its name — in the
//! manner of object_store's `ObjectStoreRegistry`.
//!
//! An [`Adapter`] is what a harness crate registers: its [`HarnessKind`],
//! the [`Harness`] that runs its turns (built from the few settings a
//! caller may give, [`AdapterConfig`]), and its native [`Sessions`] when
//! the agent keeps any. Everything else that differs between adapters —
//! directions, history loading, permission grants, the model flag — is
//! data the harness declares. This crate registers its own built-in
//! harnesses ([`Registry::with_builtin`]: `command` and `scripted`);
//! `handoff-core` adds the agent adapters it was built with, and a host adds
//! its own with one [`Registry::register`] call.

use std::fmt::Debug;
use std::sync::Arc;

use crate::sessions::Sessions;
use crate::{DynHarness, Error, HarnessKind, NativeFormat, NativeHarness, Result};

/// What a caller may tell an adapter when it builds its harness.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdapterConfig {
    /// The agent's command line, for adapters that run one the user names
    /// (the command harness).
    pub agent_cmd: Option<String>,
    /// Environment variables the agent needs from this process, for
    /// adapters that cannot know them (the command harness).
    pub agent_env: Vec<String>,
}

impl AdapterConfig {
    /// No settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// With the agent's command line.
    pub fn with_agent_cmd(mut self, line: impl Into<String>) -> Self {
        self.agent_cmd = Some(line.into());
        self
    }

    /// With the environment variables the agent needs.
    pub fn with_agent_env(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.agent_env = names.into_iter().map(Into::into).collect();
        self
    }
}

/// A harness crate's registration: one small seam.
pub trait Adapter: Send + Sync + Debug {
    /// Its name, in records and on the command line.
    fn kind(&self) -> HarnessKind;

    /// The harness that runs turns.
    fn harness(&self, config: &AdapterConfig) -> Result<Arc<DynHarness>>;

    /// The harness a session is queued with, when no turn runs here (the
    /// worker that runs it builds its own): what it declares is all that
    /// is asked. By default [`Adapter::harness`].
    fn for_queueing(&self, config: &AdapterConfig) -> Result<Arc<DynHarness>> {
        self.harness(config)
    }

    /// The agent's own sessions on this machine, when it keeps any; none
    /// by default.
    fn sessions(&self) -> Option<Arc<dyn Sessions>> {
        None
    }
}

/// The adapter of a CLI agent with native session files: its
/// [`NativeHarness`] runs turns and is its [`Sessions`]. Registering a
/// format is one line: `registry.register(NativeAdapter::<MyFormat>::arc())`.
#[derive(Debug, Clone, Default)]
pub struct NativeAdapter<F>(std::marker::PhantomData<F>);

impl<F: NativeFormat> NativeAdapter<F> {
    /// The adapter, ready to register.
    pub fn arc() -> Arc<dyn Adapter> {
        Arc::new(Self(std::marker::PhantomData))
    }
}

impl<F: NativeFormat> Adapter for NativeAdapter<F> {
    fn kind(&self) -> HarnessKind {
        F::default().spec().kind.clone()
    }

    fn harness(&self, _config: &AdapterConfig) -> Result<Arc<DynHarness>> {
        Ok(Arc::new(NativeHarness::<F>::new()))
    }

    fn sessions(&self) -> Option<Arc<dyn Sessions>> {
        Some(Arc::new(NativeHarness::<F>::new()))
    }
}

/// The adapters a program knows, by name.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    adapters: Vec<Arc<dyn Adapter>>,
}

impl Registry {
    /// No adapters.
    pub fn new() -> Self {
        Self::default()
    }

    /// This crate's own harnesses: `command` (runs `agent_cmd`) and
    /// `scripted` (a deterministic stand-in).
    pub fn with_builtin() -> Self {
        let mut registry = Self::new();
        registry.register(Arc::new(crate::command::CommandAdapter));
        registry.register(Arc::new(crate::scripted::ScriptedAdapter));
        registry
    }

    /// Adds `adapter`; one already registered under its name is replaced
    /// and returned.
    pub fn register(&mut self, adapter: Arc<dyn Adapter>) -> Option<Arc<dyn Adapter>> {
        let kind = adapter.kind();
        match self.adapters.iter_mut().find(|a| a.kind() == kind) {
            Some(slot) => Some(std::mem::replace(slot, adapter)),
            None => {
                self.adapters.push(adapter);
                None
            }
        }
    }

    /// The adapter named `name`; [`Error::UnknownHarness`] lists the
    /// names there are.
    pub fn get(&self, name: &str) -> Result<Arc<dyn Adapter>> {
        self.adapters
            .iter()
            .find(|a| a.kind() == name)
            .cloned()
            .ok_or_else(|| Error::UnknownHarness {
                name: name.chars().take(64).collect(),
                known: self.kinds(),
            })
    }

    /// The adapters registered, in registration order.
    pub fn adapters(&self) -> Vec<Arc<dyn Adapter>> {
        self.adapters.clone()
    }

    /// The names registered, in registration order.
    pub fn kinds(&self) -> Vec<HarnessKind> {
        self.adapters.iter().map(|a| a.kind()).collect()
    }
}

/// `a, b or c`.
pub(crate) fn listing(kinds: &[HarnessKind]) -> String {
    match kinds {
        [] => "none registered".to_owned(),
        [one] => one.to_string(),
        [rest @ .., last] => format!(
            "{} or {last}",
            rest.iter()
                .map(HarnessKind::name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Harness;

    #[test]
    fn a_name_resolves_once_to_its_adapter() {
        let registry = Registry::with_builtin();
        assert_eq!(registry.kinds(), ["command", "scripted"]);
        let scripted = registry.get("scripted").unwrap();
        assert_eq!(scripted.kind(), "scripted");
        let harness = scripted.harness(&AdapterConfig::new()).unwrap();
        assert_eq!(harness.kind(), "scripted");
        assert!(scripted.sessions().is_none());
        assert_eq!(
            registry.get("nope").unwrap_err().to_string(),
            "unknown harness \"nope\" (expected command or scripted)"
        );
    }

    #[test]
    fn registering_a_name_again_replaces_it() {
        let mut registry = Registry::with_builtin();
        let old = registry.register(Arc::new(crate::scripted::ScriptedAdapter));
        assert_eq!(old.map(|a| a.kind()), Some(HarnessKind::new("scripted")));
        assert_eq!(registry.kinds().len(), 2);
    }

    #[test]
    fn the_command_harness_needs_its_command_to_run_but_not_to_queue() {
        let command = Registry::with_builtin().get("command").unwrap();
        let err = command.harness(&AdapterConfig::new()).unwrap_err();
        assert!(
            matches!(&err, Error::NeedsAgentCommand { harness } if *harness == "command"),
            "{err}"
        );
        let queued = command.for_queueing(&AdapterConfig::new()).unwrap();
        assert_eq!(queued.kind(), "command");
        assert_eq!(queued.directions(), crate::Direction::ALL);
        let configured = command
            .harness(
                &AdapterConfig::new()
                    .with_agent_cmd("my-agent --fast")
                    .with_agent_env(["KEY"]),
            )
            .unwrap();
        assert_eq!(configured.env_vars(), ["KEY"]);
    }
}
