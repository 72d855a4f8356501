//! The controller as one authority: the real [`Controller`] deciding against the real
//! [`MetadataImage`], each decision committed at once at the next metadata-log index (the
//! quorum that would replicate it has its own simulation, `quorum_sim.rs`). Brokers reach it
//! over the faulty network and fetch the image from it, so its decisions reach the replicas
//! late, twice, out of order or not at all, as metadata propagation does.
//!
//! A fail-over replaces the `Controller` (its sessions are volatile leader state) and
//! activates the new one over the same image, as a new Raft leader would.

use myelin_replication::cluster::{MetadataBatch, MetadataImage, MetadataRecord};
use myelin_replication::controller::ControllerRequest;
use myelin_replication::controller::{Controller, ControllerConfig, ControllerResponse};
use myelin_replication::error::ControllerError;
use std::rc::Rc;

/// The active controller and the committed image.
pub struct ControllerNode {
    config: ControllerConfig,
    controller: Controller,
    image: MetadataImage,
    /// The image as brokers fetch it (a new one after every commit).
    published: Rc<MetadataImage>,
    /// The index the next decision's records take.
    next_index: u64,
    id_seed: u64,
}

impl ControllerNode {
    /// A controller over an empty image, active from `now_ms`.
    pub fn new(config: ControllerConfig, id_seed: u64, now_ms: u64) -> Result<Self, String> {
        let mut node = ControllerNode {
            controller: Controller::new(config.clone(), id_seed),
            config,
            image: MetadataImage::new(),
            published: Rc::new(MetadataImage::new()),
            next_index: 1,
            id_seed,
        };
        let records = node.controller.activate(&node.image, now_ms);
        node.commit(records)?;
        Ok(node)
    }

    /// The committed image.
    pub fn image(&self) -> &Rc<MetadataImage> {
        &self.published
    }

    /// Decides `request` and commits what it decided; returns the index the answer is
    /// committed at and the answer.
    pub fn decide(
        &mut self,
        now_ms: u64,
        request: &ControllerRequest,
    ) -> Result<(u64, Result<ControllerResponse, ControllerError>), String> {
        match self
            .controller
            .handle(&self.image, self.next_index, now_ms, request)
        {
            Ok(decision) => {
                let index = self.commit(decision.records)?;
                Ok((index, Ok(decision.response)))
            }
            Err(e) => Ok((self.image.last_applied(), Err(e))),
        }
    }

    /// The periodic work: fencing lapsed sessions, electing leaders. Returns whether the
    /// image changed.
    pub fn tick(&mut self, now_ms: u64) -> Result<bool, String> {
        let records = self.controller.tick(&self.image, now_ms);
        let changed = !records.is_empty();
        self.commit(records)?;
        Ok(changed)
    }

    /// A new active controller over the same committed image.
    pub fn fail_over(&mut self, now_ms: u64) -> Result<(), String> {
        self.id_seed = self.id_seed.wrapping_add(1);
        self.controller = Controller::new(self.config.clone(), self.id_seed);
        let records = self.controller.activate(&self.image, now_ms);
        self.commit(records)?;
        Ok(())
    }

    /// Commits one decision's records as one entry. A decision made against the image it
    /// is applied to must apply whole: a record that does not is a controller bug.
    fn commit(&mut self, records: Vec<MetadataRecord>) -> Result<u64, String> {
        if records.is_empty() {
            return Ok(self.image.last_applied());
        }
        let index = self.next_index;
        self.next_index += 1;
        let batch = MetadataBatch { records };
        let skipped = self.image.apply_batch(index, &batch);
        if let Some((i, why)) = skipped.first() {
            return Err(format!(
                "the controller decided a record that does not apply ({why}): {:?}",
                batch.records.get(*i)
            ));
        }
        self.published = Rc::new(self.image.clone());
        Ok(index)
    }
}
