//! Queue producers and consumers: the queue exists.

use super::{Out, Remote};
use crate::assess::finding::{Kind, Severity};

pub(super) fn check(r: &Remote<'_>, out: &mut Out<'_>) {
    let (w, inv) = (r.w, r.inv);
    let queue_refs = w
        .queue_producers
        .iter()
        .map(|p| (&p.queue, &p.location, "producer"))
        .chain(
            w.queue_consumers
                .iter()
                .map(|c| (&c.queue, &c.location, "consumer")),
        );
    for (queue, l, role) in queue_refs {
        let Some(list) = inv.queues.as_ref() else {
            continue;
        };
        match list {
            Err(why) => out.inconclusive(&format!("queue `{queue}`"), why, Some(l)),
            Ok(list) if !list.iter().any(|q| &q.name == queue) => out.at(
                Kind::QueueMissing,
                Severity::Error,
                l,
                format!("queue {role} `{queue}`: the queue does not exist"),
                format!("wrangler queues create {queue}"),
            ),
            Ok(_) => {}
        }
    }
}
