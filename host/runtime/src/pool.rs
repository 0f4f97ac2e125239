//! The instance pools of the two engines: how many guest instances each engine keeps room for,
//! and the wasmtime pooling-allocator settings that follow from it.
//!
//! A pool reserves its address space once, when the engine is created, so that instantiating a
//! guest takes a free slot instead of mapping (and later unmapping) a linear memory, a fiber
//! stack and tables: that is what makes a fresh instance cheap, and what keeps a parked instance
//! to a few memory mappings of the kernel's limited count. It must never decide whether a guest
//! may run: a full pool fails an instantiation with an error the executor treats as transient
//! (it evicts parked instances and tries again), and this module never sets a limit that a guest
//! would not also meet without a pool (memory size is left to the store's `ResourceLimiter`).

use wasmtime::{Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Instances every engine keeps room for beyond what the host's settings account for: components
/// being loaded list their exports in an instance of their own, and an episode's instance may
/// still hold its slot for a moment after the next one starts.
const HEADROOM: u32 = 16;

/// Tables of one component instance, at most, without taking a second slot: a Rust guest has its
/// module's function table and one per adapter shim.
const TABLES_PER_INSTANCE: u32 = 4;

/// Core instances of one component instance. They cost nothing up front (the pool only counts
/// them), so this is generous: a Python or JavaScript guest links many modules.
const CORE_INSTANCES_PER_INSTANCE: u32 = 32;

/// Largest table a pooled module may declare, in elements. The pool reserves (but does not
/// commit) this many pointers per table slot; a module that declares a larger table fails to load
/// with wasmtime's message naming the limit.
const TABLE_ELEMENTS: usize = 100_000;

/// Tables and memories a single core module may define. Wasmtime's default of one rejects
/// modules built with the multi-memory or reference-types proposals at load time.
const PER_MODULE: u32 = 4;

/// Slots both pools may hold together: each reserves a little over 4 GiB of address space
/// (linear memory and its guard region), and the process has 128 TiB, part of which the rest of
/// the host needs.
pub const MAX_POOL_SLOTS: u32 = 24_000;

/// Bytes of a freed slot's memory and tables that are reset in place (their dirty pages rewritten
/// to their initial contents) rather than handed back to the kernel, so that the next instance in
/// the slot finds its pages mapped instead of faulting them in again: this halves the cost of a
/// fresh Rust instance. Only with the kernel's `PAGEMAP_SCAN` (Linux 6.7), which finds the dirty
/// pages; without it the reset would rewrite every byte, and pages go back to the kernel instead.
/// What stays resident is bounded: the pages freed slots had dirtied, in wasmtime's 100 warm slots.
const KEEP_RESIDENT: usize = 1 << 20;

/// How many guest instances each engine keeps room for: the size of its pool.
///
/// Each slot reserves about 4 GiB of virtual address space for a linear memory (so that
/// compiled code needs no bounds checks; none of it is committed until a guest touches it) and a
/// fiber stack; the process's 128 TiB of user address space therefore bounds the two pools at
/// [`MAX_POOL_SLOTS`] together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstancePools {
    /// Orchestrator and entity instances alive at once: parked in the executor's cache plus
    /// running.
    pub deterministic: u32,
    /// Activity attempts running at once.
    pub activities: u32,
}

impl InstancePools {
    /// Pools for a host that parks up to `parked` orchestrator instances, runs up to
    /// `orchestrations` episodes and `activities` activity attempts at once.
    pub fn for_host(parked: usize, orchestrations: usize, activities: usize) -> Self {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).saturating_add(HEADROOM);
        // Entity operations run on the deterministic engine, one per entity batch, bounded by the
        // episodes that can be waiting on them: counted once more with the orchestrations.
        InstancePools {
            deterministic: count(parked.saturating_add(orchestrations.saturating_mul(2))),
            activities: count(activities),
        }
    }
}

/// Why a runtime's pools cannot be created.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The pools would need more address space than a process has.
    #[error(
        "instance pools of {slots} slots ({deterministic} for orchestrators and entities, {activities} for \
         activities) need more address space than a process has (at most {MAX_POOL_SLOTS} slots): lower the \
         instance cache size (--cache-size) or the concurrency"
    )]
    TooLarge {
        /// Slots asked for, both pools together.
        slots: u64,
        /// Slots of the orchestrator and entity pool.
        deterministic: u32,
        /// Slots of the activity pool.
        activities: u32,
    },
    /// A pool without a slot could never run a guest.
    #[error(
        "the instance pool for {0} has no slot, so no guest could ever run in it: give it at least one, or \
         allocate instances on demand (RuntimeConfig::pools = None)"
    )]
    Empty(&'static str),
}

impl InstancePools {
    /// Checks that both pools hold a slot at least and fit in the process's address space
    /// together.
    pub fn check(&self) -> Result<(), PoolError> {
        if self.deterministic == 0 {
            return Err(PoolError::Empty("orchestrators and entities"));
        }
        if self.activities == 0 {
            return Err(PoolError::Empty("activities"));
        }
        let slots = u64::from(self.deterministic) + u64::from(self.activities);
        if slots > u64::from(MAX_POOL_SLOTS) {
            return Err(PoolError::TooLarge { slots, deterministic: self.deterministic, activities: self.activities });
        }
        Ok(())
    }
}

impl Default for InstancePools {
    /// Sized for the executor's default settings: 1,024 parked instances, 8 episodes and 16
    /// activity attempts at once.
    fn default() -> Self {
        InstancePools::for_host(1024, 8, 16)
    }
}

/// The allocation strategy of an engine whose pool holds `instances` component instances, or
/// allocation on demand if `instances` is `None`.
pub(crate) fn strategy(instances: Option<u32>) -> InstanceAllocationStrategy {
    let Some(instances) = instances else {
        return InstanceAllocationStrategy::OnDemand;
    };
    let keep_resident = if PoolingAllocationConfig::is_pagemap_scan_available() { KEEP_RESIDENT } else { 0 };
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(CORE_INSTANCES_PER_INSTANCE))
        .total_memories(instances)
        .total_tables(instances.saturating_mul(TABLES_PER_INSTANCE))
        .total_stacks(instances)
        .table_elements(TABLE_ELEMENTS)
        .max_memories_per_module(PER_MODULE)
        .max_tables_per_module(PER_MODULE)
        .linear_memory_keep_resident(keep_resident)
        .table_keep_resident(keep_resident)
        .pagemap_scan(Enabled::Auto);
    InstanceAllocationStrategy::Pooling(pool)
}

#[cfg(test)]
mod tests {
    use super::{HEADROOM, InstancePools, MAX_POOL_SLOTS};

    #[test]
    fn pools_hold_every_parked_and_running_instance_with_headroom() {
        let pools = InstancePools::for_host(1024, 8, 16);
        assert_eq!(pools.deterministic, 1024 + 2 * 8 + HEADROOM);
        assert_eq!(pools.activities, 16 + HEADROOM);
        assert!(pools.check().is_ok());
    }

    #[test]
    fn pools_beyond_the_address_space_are_refused_with_what_to_do() {
        let pools = InstancePools::for_host(MAX_POOL_SLOTS as usize, 8, 16);
        let error = pools.check().expect_err("more slots than the address space holds");
        assert!(error.to_string().contains("--cache-size"), "{error}");
        let huge = InstancePools::for_host(usize::MAX, usize::MAX, usize::MAX);
        assert_eq!(huge.deterministic, u32::MAX, "sizes saturate instead of wrapping");
        assert!(huge.check().is_err());
    }

    #[test]
    fn an_empty_pool_is_refused() {
        let pools = InstancePools { deterministic: 8, activities: 0 };
        let error = pools.check().expect_err("a pool without a slot");
        assert!(error.to_string().contains("activities has no slot"), "{error}");
    }
}
