//! The thread-per-core client: one glommio executor pinned to each core of `--cores`, each
//! running some of the run's producers and consumers as tasks. Nothing is shared between
//! executors but the [`Live`] counters and the count of producers still running; each
//! executor's [`Recorder`] comes back when its thread ends and is merged.

mod admin;
mod conn;
mod consumer;
mod ctx;
pub mod probe;
mod producer;
pub mod propagation;
mod wire;

use crate::limits::{EXECUTOR_IO_MEMORY_BYTES, EXECUTOR_SPIN_BEFORE_PARK_US};
use crate::params::Params;
use crate::stats::{Live, Phase, Recorder, Window};
use admin::TopicLayout;
use consumer::ConsumerPlan;
use ctx::ExecCtx;
use glommio::{LocalExecutorBuilder, Placement};
use producer::ProducerPlan;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn builder(placement: Placement, name: &str) -> LocalExecutorBuilder {
    LocalExecutorBuilder::new(placement)
        .name(name)
        .io_memory(EXECUTOR_IO_MEMORY_BYTES)
        .spin_before_park(Duration::from_micros(EXECUTOR_SPIN_BEFORE_PARK_US))
}

/// Creates the topics and reads their layout, on a short-lived executor on this thread.
fn set_up(p: &Params) -> anyhow::Result<Vec<TopicLayout>> {
    let ex = builder(Placement::Unbound, "bench-setup")
        .make()
        .map_err(|e| {
            anyhow::anyhow!("starting a glommio executor (locked-memory limit too low?): {e}")
        })?;
    ex.run(async {
        let mut conn = conn::Conn::connect(&p.bootstrap).await?;
        admin::create_topics(&mut conn, p).await?;
        admin::wait_for_layout(&mut conn, &p.topic_names()).await
    })
}

/// Runs the workload with the native client and returns what it measured.
pub fn run(p: &Params, live: &Arc<Live>) -> anyhow::Result<(Recorder, Window)> {
    let layout = set_up(p)?;
    if let Some((fill, per_producer)) = p.backlog_fill() {
        phase(&fill, &layout, live, Some(per_producer), "backlog ")?;
    }
    phase(p, &layout, live, None, "")
}

/// A producer or consumer, placed on an executor.
enum Role {
    Producer(Box<ProducerPlan>),
    Consumer(ConsumerPlan),
}

/// Splits the partitions of a group among its consumers: consumer `c` of `n` gets every
/// partition whose position in the flattened list is `c` modulo `n`.
fn assign(layout: &[TopicLayout], c: u32, n: u32) -> Vec<TopicLayout> {
    let mut k = 0u32;
    let mut out = Vec::new();
    for t in layout {
        let mut parts = Vec::new();
        for part in &t.partitions {
            if k % n == c {
                parts.push(part.clone());
            }
            k += 1;
        }
        if !parts.is_empty() {
            out.push(TopicLayout {
                name: t.name.clone(),
                partitions: parts,
            });
        }
    }
    out
}

fn phase(
    p: &Params,
    layout: &[TopicLayout],
    live: &Arc<Live>,
    budget: Option<u64>,
    label: &str,
) -> anyhow::Result<(Recorder, Window)> {
    let Phase {
        clock,
        start,
        end,
        give_up,
        window,
    } = Phase::plan(p, budget.is_some());
    let mut roles = Vec::new();
    for id in 0..p.producers {
        roles.push(Role::Producer(Box::new(ProducerPlan {
            params: p.clone(),
            topics: layout.to_vec(),
            rate_msgs_per_s: p.rate_msgs_per_s / f64::from(p.producers),
            start,
            end,
            budget,
            id: u64::from(id),
        })));
    }
    for _group in 0..p.consumer_groups {
        for c in 0..p.consumers_per_group {
            roles.push(Role::Consumer(ConsumerPlan {
                assigned: assign(layout, c, p.consumers_per_group),
                from_start: p.consume_from_start,
                end,
                give_up,
            }));
        }
    }
    // Role k runs on core k mod cores: with two cores, the producer and the consumer of a
    // one-producer, one-consumer run are on different cores.
    let mut per_core: Vec<Vec<Role>> = p.cores.iter().map(|_| Vec::new()).collect();
    let ncores = per_core.len().max(1);
    for (k, r) in roles.into_iter().enumerate() {
        if let Some(v) = per_core.get_mut(k % ncores) {
            v.push(r);
        }
    }
    let producers_left = Arc::new(AtomicU32::new(p.producers));
    let finished = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for (&core, roles) in p.cores.iter().zip(per_core) {
        if roles.is_empty() {
            continue;
        }
        let (live, left, fin) = (live.clone(), producers_left.clone(), finished.clone());
        let handle = builder(Placement::Fixed(core), &format!("bench-{core}"))
            .spawn(move || async move {
                let ctx = Rc::new(ExecCtx::new(live, clock, window, left));
                let result = run_roles(roles, ctx).await;
                fin.fetch_add(1, Ordering::Release);
                result
            })
            .map_err(|e| anyhow::anyhow!("starting an executor on core {core}: {e}"))?;
        handles.push(handle);
    }
    let n = handles.len();
    live.print_until(label, || finished.load(Ordering::Acquire) >= n);
    let mut total = Recorder::default();
    for h in handles {
        let rec = h
            .join()
            .map_err(|e| anyhow::anyhow!("executor thread: {e}"))??;
        total.merge(&rec);
    }
    Ok((total, window))
}

async fn run_roles(roles: Vec<Role>, ctx: Rc<ExecCtx>) -> anyhow::Result<Recorder> {
    let mut tasks = Vec::new();
    for role in roles {
        let ctx = ctx.clone();
        let is_producer = matches!(role, Role::Producer(_));
        tasks.push((
            is_producer,
            glommio::spawn_local(async move {
                let r = match role {
                    Role::Producer(plan) => producer::run(*plan, ctx).await,
                    Role::Consumer(plan) => consumer::run(plan, ctx).await,
                };
                if let Err(e) = &r {
                    eprintln!("{e:#}");
                }
                r
            }),
        ));
    }
    let running = Rc::new(std::cell::Cell::new(true));
    let ticker = {
        let (ctx, running) = (ctx.clone(), running.clone());
        glommio::spawn_local(async move {
            while running.get() {
                glommio::timer::sleep(Duration::from_millis(250)).await;
                ctx.publish();
            }
        })
    };
    for (is_producer, t) in tasks {
        // The error was printed where it happened; it is counted so the report shows it.
        if t.await.is_err() {
            ctx.errors(1, is_producer);
        }
    }
    running.set(false);
    ticker.await;
    ctx.publish();
    let rec = ctx.sink.borrow().rec.clone();
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumers_of_a_group_split_partitions_disjointly() {
        let layout = vec![
            TopicLayout {
                name: "a".into(),
                partitions: (0..3).map(|p| (p, "h:1".to_string())).collect(),
            },
            TopicLayout {
                name: "b".into(),
                partitions: (0..2).map(|p| (p, "h:1".to_string())).collect(),
            },
        ];
        let mut seen = Vec::new();
        for c in 0..2 {
            for t in assign(&layout, c, 2) {
                for (p, _) in t.partitions {
                    seen.push((t.name.clone(), p));
                }
            }
        }
        seen.sort();
        assert_eq!(seen.len(), 5);
        seen.dedup();
        assert_eq!(seen.len(), 5);
        assert_eq!(assign(&layout, 0, 1), layout);
    }
}
