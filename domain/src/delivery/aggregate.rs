//! The `delivery` aggregate's state and decisions.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::values::{
    Actor, ActorId, DeliveryId, GeoPoint, OrderId, ProofRef, Reason, RecipientName, Role, Vehicle,
};
use event_schemas::{
    DeliveryCompleted, DeliveryEvent, DeliveryFailed, DeliveryPickedUp, DeliveryScheduled,
    DeliveryStatus, DriverAssigned, LocationUpdated,
};
use serde::{Deserialize, Serialize};

use super::{DeliveryCommand, DeliveryError, ScheduleDelivery};
use crate::Issued;

/// A delivery of an order; `Default` is a delivery not scheduled yet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    id: Option<DeliveryId>,
    order_id: Option<OrderId>,
    status: Option<DeliveryStatus>,
    driver_id: Option<ActorId>,
    vehicle: Option<Vehicle>,
    last_location: Option<GeoPoint>,
    last_recorded_at: Option<DateTime<Utc>>,
    eta: Option<DateTime<Utc>>,
}

impl Delivery {
    /// Whether the delivery exists (was scheduled), whatever its status now.
    pub fn is_scheduled(&self) -> bool {
        self.status.is_some()
    }

    /// The delivery's id, once scheduled.
    pub fn id(&self) -> Option<DeliveryId> {
        self.id
    }

    /// Where the delivery is in its life; `None` before it is scheduled.
    pub fn status(&self) -> Option<DeliveryStatus> {
        self.status
    }

    /// The order the delivery carries, once scheduled.
    pub fn order_id(&self) -> Option<OrderId> {
        self.order_id
    }

    /// The assigned driver, once a driver is assigned.
    pub fn driver(&self) -> Option<&ActorId> {
        self.driver_id.as_ref()
    }

    /// The vehicle given when the driver was assigned, if any.
    pub fn vehicle(&self) -> Option<&Vehicle> {
        self.vehicle.as_ref()
    }

    /// The last reported position and when it was taken, if any was reported.
    pub fn last_location(&self) -> Option<(GeoPoint, DateTime<Utc>)> {
        self.last_location.zip(self.last_recorded_at)
    }

    /// The last expected arrival a driver gave, if any.
    pub fn eta(&self) -> Option<DateTime<Utc>> {
        self.eta
    }

    /// Whether `role` may issue `command` at all (API.md "Deliveries").
    fn role_may_issue(role: Role, command: &DeliveryCommand) -> bool {
        match command {
            DeliveryCommand::ScheduleDelivery(_) => matches!(role, Role::Admin | Role::System),
            DeliveryCommand::AssignDriver { .. }
            | DeliveryCommand::PickUp
            | DeliveryCommand::UpdateLocation { .. }
            | DeliveryCommand::CompleteDelivery { .. }
            | DeliveryCommand::FailDelivery { .. } => {
                matches!(role, Role::Admin | Role::Distributor)
            }
        }
    }

    /// The status of an existing delivery, or `NotFound`.
    fn existing_status(&self) -> Result<DeliveryStatus, DeliveryError> {
        self.status.ok_or(DeliveryError::NotFound)
    }

    /// Refuses a distributor that is not the assigned driver; an admin passes.
    fn check_assigned_driver(&self, by: &Actor) -> Result<(), DeliveryError> {
        if by.is_admin() || self.driver_id.as_ref() == Some(&by.sub) {
            Ok(())
        } else {
            Err(DeliveryError::NotAssignedDriver)
        }
    }

    /// The driver of a delivery that must have one in `status`.
    fn required_driver(
        &self,
        status: DeliveryStatus,
        command: &'static str,
    ) -> Result<ActorId, DeliveryError> {
        self.driver_id
            .clone()
            .ok_or(DeliveryError::InvalidTransition {
                from: status,
                command: command.into(),
            })
    }

    /// The order of a delivery that exists.
    fn required_order_id(&self) -> Result<OrderId, DeliveryError> {
        self.order_id.ok_or(DeliveryError::NotFound)
    }

    /// Decides `ScheduleDelivery`.
    fn schedule(
        &self,
        at: DateTime<Utc>,
        command: ScheduleDelivery,
    ) -> Result<DeliveryEvent, DeliveryError> {
        if self.is_scheduled() {
            return Err(DeliveryError::AlreadyScheduled);
        }
        if command.window.end <= command.window.start {
            return Err(DeliveryError::InvalidWindow);
        }
        Ok(DeliveryScheduled {
            delivery_id: command.delivery_id,
            order_id: command.order_id,
            pickup_address: command.pickup_address,
            dropoff_address: command.dropoff_address,
            window: command.window,
            scheduled_at: at,
        }
        .into())
    }

    /// Decides `AssignDriver`.
    fn assign(
        &self,
        by: Actor,
        at: DateTime<Utc>,
        driver_id: Option<ActorId>,
        vehicle: Option<Vehicle>,
        command: &'static str,
    ) -> Result<DeliveryEvent, DeliveryError> {
        let status = self.existing_status()?;
        let driver_id = if by.is_admin() {
            driver_id
        } else {
            match driver_id {
                Some(named) if named != by.sub => return Err(DeliveryError::DriverMismatch),
                _ => Some(by.sub),
            }
        };
        match status {
            DeliveryStatus::Scheduled => {}
            DeliveryStatus::Assigned => return Err(DeliveryError::AlreadyAssigned),
            from => {
                return Err(DeliveryError::InvalidTransition {
                    from,
                    command: command.into(),
                });
            }
        }
        let driver_id = driver_id.ok_or(DeliveryError::DriverRequired)?;
        Ok(DriverAssigned {
            driver_id,
            vehicle,
            assigned_at: at,
        }
        .into())
    }

    /// Decides `PickUp`.
    fn pick_up(
        &self,
        by: &Actor,
        at: DateTime<Utc>,
        command: &'static str,
    ) -> Result<DeliveryEvent, DeliveryError> {
        let status = self.existing_status()?;
        self.check_assigned_driver(by)?;
        if status != DeliveryStatus::Assigned {
            return Err(DeliveryError::InvalidTransition {
                from: status,
                command: command.into(),
            });
        }
        Ok(DeliveryPickedUp {
            order_id: self.required_order_id()?,
            driver_id: self.required_driver(status, command)?,
            picked_up_at: at,
        }
        .into())
    }

    /// Decides `UpdateLocation`.
    fn update_location(
        &self,
        by: &Actor,
        location: GeoPoint,
        recorded_at: DateTime<Utc>,
        eta: Option<DateTime<Utc>>,
        command: &'static str,
    ) -> Result<DeliveryEvent, DeliveryError> {
        let status = self.existing_status()?;
        self.check_assigned_driver(by)?;
        if !matches!(status, DeliveryStatus::Assigned | DeliveryStatus::InTransit) {
            return Err(DeliveryError::InvalidTransition {
                from: status,
                command: command.into(),
            });
        }
        match self.last_recorded_at {
            Some(last_recorded_at) if recorded_at <= last_recorded_at => {
                return Err(DeliveryError::StaleLocation { last_recorded_at });
            }
            _ => {}
        }
        Ok(LocationUpdated {
            location,
            recorded_at,
            eta,
        }
        .into())
    }

    /// Decides `CompleteDelivery`.
    fn complete(
        &self,
        by: &Actor,
        recipient_name: RecipientName,
        proof_ref: Option<ProofRef>,
        delivered_at: DateTime<Utc>,
        command: &'static str,
    ) -> Result<DeliveryEvent, DeliveryError> {
        let status = self.existing_status()?;
        self.check_assigned_driver(by)?;
        if status != DeliveryStatus::InTransit {
            return Err(DeliveryError::InvalidTransition {
                from: status,
                command: command.into(),
            });
        }
        Ok(DeliveryCompleted {
            order_id: self.required_order_id()?,
            recipient_name,
            proof_ref,
            delivered_at,
        }
        .into())
    }

    /// Decides `FailDelivery`.
    fn fail(
        &self,
        by: &Actor,
        at: DateTime<Utc>,
        reason: Reason,
        command: &'static str,
    ) -> Result<DeliveryEvent, DeliveryError> {
        let status = self.existing_status()?;
        self.check_assigned_driver(by)?;
        // API.md's machine: only a delivery on its way (IN_TRANSIT) can fail.
        if status != DeliveryStatus::InTransit {
            return Err(DeliveryError::InvalidTransition {
                from: status,
                command: command.into(),
            });
        }
        Ok(DeliveryFailed {
            order_id: self.required_order_id()?,
            reason,
            failed_at: at,
        }
        .into())
    }
}

impl Aggregate for Delivery {
    const TYPE: &'static str = "delivery";
    type Command = Issued<DeliveryCommand>;
    type Event = DeliveryEvent;
    type Error = DeliveryError;
    type Services = ();

    async fn handle(
        &mut self,
        issued: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let Issued { by, at, command } = issued;
        if !Self::role_may_issue(by.role, &command) {
            return Err(DeliveryError::RoleNotAllowed { role: by.role });
        }
        let name = command.name();
        let event = match command {
            DeliveryCommand::ScheduleDelivery(schedule) => self.schedule(at, schedule)?,
            DeliveryCommand::AssignDriver { driver_id, vehicle } => {
                self.assign(by, at, driver_id, vehicle, name)?
            }
            DeliveryCommand::PickUp => self.pick_up(&by, at, name)?,
            DeliveryCommand::UpdateLocation {
                location,
                recorded_at,
                eta,
            } => self.update_location(&by, location, recorded_at, eta, name)?,
            DeliveryCommand::CompleteDelivery {
                recipient_name,
                proof_ref,
                delivered_at,
            } => self.complete(&by, recipient_name, proof_ref, delivered_at, name)?,
            DeliveryCommand::FailDelivery { reason } => self.fail(&by, at, reason, name)?,
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            DeliveryEvent::DeliveryScheduled(e) => {
                self.id = Some(e.delivery_id);
                self.order_id = Some(e.order_id);
                self.status = Some(DeliveryStatus::Scheduled);
            }
            DeliveryEvent::DriverAssigned(e) => {
                self.driver_id = Some(e.driver_id);
                self.vehicle = e.vehicle;
                self.status = Some(DeliveryStatus::Assigned);
            }
            DeliveryEvent::DeliveryPickedUp(_) => {
                self.status = Some(DeliveryStatus::InTransit);
            }
            DeliveryEvent::LocationUpdated(e) => {
                self.last_location = Some(e.location);
                self.last_recorded_at = Some(e.recorded_at);
                if e.eta.is_some() {
                    self.eta = e.eta;
                }
            }
            DeliveryEvent::DeliveryCompleted(_) => {
                self.status = Some(DeliveryStatus::Delivered);
            }
            DeliveryEvent::DeliveryFailed(_) => {
                self.status = Some(DeliveryStatus::Failed);
            }
        }
    }
}
