//! The subscriptions of API.md: `orderUpdated`, `deliveryTracking` and `eventAppended`, each
//! fed by the process's one [`LogFeed`] and checked against the caller like the queries.

use std::sync::Arc;

use async_graphql::{Context, ID, Subscription};
use event_schemas::values::Actor;
use event_store::{EventStore, Position, RecordedEvent};
use futures_util::Stream;
use projections::ReadDb;
use projections::models::{deliveries, orders};
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use crate::QueryError;
use crate::consistency::Checkpoints;
use crate::deliveries::{Delivery, may_see};
use crate::error::{refused, unavailable};
use crate::events::{AUDITORS, CheckedFilter, Event, EventFilter};
use crate::feed::LogFeed;
use crate::orders::{ORDER_READERS, Order, may_read};
use crate::sockets::{MAX_SUBSCRIPTIONS_PER_SOCKET, SubscriptionBudget};
use crate::viewer::Viewer;

/// Events an `eventAppended` catch-up reads per round trip.
const CATCH_UP_BATCH: u32 = 500;

/// The subscription roots.
#[derive(Default)]
pub struct SubscriptionRoot;

/// What every subscription holds on to: the caller, what it reads through, and its place on
/// its socket.
struct Watch {
    actor: Actor,
    viewer: Viewer,
    db: ReadDb,
    checkpoints: Checkpoints,
    _place: Option<OwnedSemaphorePermit>,
}

impl Watch {
    fn new(ctx: &Context<'_>, actor: &Actor) -> async_graphql::Result<Self> {
        let place = match ctx.data_opt::<SubscriptionBudget>() {
            Some(budget) => Some(budget.0.clone().try_acquire_owned().map_err(|_| {
                refused(QueryError::BadInput(format!(
                    "a socket holds at most {MAX_SUBSCRIPTIONS_PER_SOCKET} subscriptions; \
                     end one or open another socket"
                )))
            })?),
            None => None,
        };
        Ok(Self {
            actor: actor.clone(),
            viewer: ctx.data::<Viewer>()?.clone(),
            db: ctx.data::<ReadDb>()?.clone(),
            checkpoints: ctx.data::<Checkpoints>()?.clone(),
            _place: place,
        })
    }

    /// `UNAUTHENTICATED` once the connection's token has expired: a subscription outlives
    /// no token.
    fn still_authenticated(&self) -> async_graphql::Result<()> {
        self.viewer.authenticated().map(|_| ())
    }

    /// The next event of `aggregate` `id`, once the read models have applied it; `None` when
    /// the feed is gone. After falling behind the feed it answers at once (an event may have
    /// been missed, so the caller looks at the current state).
    async fn next_change(
        &self,
        listener: &mut Receiver<Arc<RecordedEvent>>,
        aggregate: &str,
        id: &str,
    ) -> Option<()> {
        loop {
            match listener.recv().await {
                Ok(event)
                    if event.stream.aggregate_type == aggregate
                        && event.stream.aggregate_id == id =>
                {
                    // Past the bounded wait the read model shows what it has; the next
                    // change shows the rest.
                    let _ = self.checkpoints.reach_position(event.position).await;
                    return Some(());
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => return Some(()),
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// The order as it is now (once it exists), then each time it changes: for its customer,
    /// its farmer, or an admin, auditor or analyst. The first answer also tells the client the
    /// subscription is live.
    async fn order_updated(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Order>> + use<>> {
        let actor = ctx.data::<Viewer>()?.with_role(&ORDER_READERS, "orders")?;
        let watch = Watch::new(ctx, actor)?;
        let mut listener = ctx.data::<LogFeed>()?.listen().await;
        let id = id.0;
        // Refused now if the order exists and is another's; one placed later is checked as
        // soon as it shows.
        let now = orders::order(&watch.db, &id).await.map_err(unavailable)?;
        if now.as_ref().is_some_and(|row| !may_read(&watch.actor, row)) {
            return Err(refused(forbidden("order")));
        }
        Ok(async_stream::stream! {
            if let Some(row) = now {
                yield Ok(Order::new(row));
            }
            while watch.next_change(&mut listener, "order", &id).await.is_some() {
                if let Err(error) = watch.still_authenticated() {
                    yield Err(error);
                    break;
                }
                match orders::order(&watch.db, &id).await {
                    Ok(Some(row)) if may_read(&watch.actor, &row) => yield Ok(Order::new(row)),
                    Ok(Some(_)) => {
                        yield Err(refused(forbidden("order")));
                        break;
                    }
                    Ok(None) => {}
                    Err(error) => yield Err(unavailable(error)),
                }
            }
        })
    }

    /// The delivery as it is now (once it exists), then each time it changes (its driver's
    /// location, status and ETA): for its driver, its order's customer or farmer, or an admin,
    /// auditor or analyst.
    async fn delivery_tracking(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Delivery>> + use<>> {
        let actor = ctx.data::<Viewer>()?.authenticated()?;
        let watch = Watch::new(ctx, actor)?;
        let mut listener = ctx.data::<LogFeed>()?.listen().await;
        let id = id.0;
        let now = deliveries::delivery(&watch.db, &id)
            .await
            .map_err(unavailable)?;
        if let Some(row) = &now
            && !may_see(&watch.db, &watch.actor, row).await?
        {
            return Err(refused(forbidden("delivery")));
        }
        Ok(async_stream::stream! {
            if let Some(row) = now {
                yield Ok(Delivery(row));
            }
            while watch.next_change(&mut listener, "delivery", &id).await.is_some() {
                if let Err(error) = watch.still_authenticated() {
                    yield Err(error);
                    break;
                }
                match deliveries::delivery(&watch.db, &id).await {
                    Ok(Some(row)) => match may_see(&watch.db, &watch.actor, &row).await {
                        Ok(true) => yield Ok(Delivery(row)),
                        Ok(false) => {
                            yield Err(refused(forbidden("delivery")));
                            break;
                        }
                        Err(error) => yield Err(error),
                    },
                    Ok(None) => {}
                    Err(error) => yield Err(unavailable(error)),
                }
            }
        })
    }

    /// Every event appended from now on (or after the filter's `afterPosition`, read from the
    /// log first) that the filter matches, in log order, none twice: auditors and admins only.
    async fn event_appended(
        &self,
        ctx: &Context<'_>,
        filter: Option<EventFilter>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Event>> + use<>> {
        let actor = ctx.data::<Viewer>()?.with_role(&AUDITORS, "the log")?;
        let watch = Watch::new(ctx, actor)?;
        let store = ctx.data::<EventStore>()?.clone();
        // Listen first: whatever is appended from here on reaches the listener or the
        // catch-up below.
        let mut listener = ctx.data::<LogFeed>()?.listen().await;
        let starts_now = filter.as_ref().is_none_or(|f| f.after_position.is_none());
        let CheckedFilter { log, mut after } = filter.unwrap_or_default().check()?;
        if starts_now {
            after = store
                .head()
                .await
                .map_err(unavailable)?
                .readable
                .unwrap_or(Position::START);
        }
        Ok(async_stream::stream! {
            let mut catching_up = true;
            loop {
                if catching_up {
                    if let Err(error) = watch.still_authenticated() {
                        yield Err(error);
                        break;
                    }
                    // From the store, until a short page: then the listener holds the rest.
                    match store.read_filtered(&log, after, CATCH_UP_BATCH).await {
                        Ok(page) => {
                            catching_up = page.len() == CATCH_UP_BATCH as usize;
                            for event in page {
                                after = event.position;
                                yield Ok(Event::from(event));
                            }
                        }
                        Err(error) => {
                            yield Err(unavailable(error));
                            break;
                        }
                    }
                    continue;
                }
                match listener.recv().await {
                    Ok(event) if event.position > after && log.matches(&event) => {
                        if let Err(error) = watch.still_authenticated() {
                            yield Err(error);
                            break;
                        }
                        after = event.position;
                        yield Ok(Event::from(RecordedEvent::clone(&event)));
                    }
                    Ok(_) => {}
                    // Fell behind the feed: read what was missed from the store.
                    Err(RecvError::Lagged(_)) => catching_up = true,
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }
}

/// `FORBIDDEN` for another actor's `what`.
fn forbidden(what: &str) -> QueryError {
    QueryError::Forbidden(format!("this {what} is another actor's"))
}
