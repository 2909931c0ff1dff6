//! The order arena: preallocated slots, a free list, the order-id index and the intrusive
//! lists (per level, per account, and all live orders in acceptance order).

use crate::id_index::IdIndex;
use crate::ladder::NIL;
use crate::types::{
    AccountId, InstrumentId, OrdType, OrderId, Price, Qty, SessionId, Side, StpMode, StrategyId,
    TimeInForce, TimestampNs,
};

/// One live order. Links are slot indices, not pointers.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Slot {
    pub id: OrderId,
    pub instrument: InstrumentId,
    pub account: AccountId,
    pub strategy: StrategyId,
    pub session: SessionId,
    pub side: Side,
    /// Current type: a triggered stop becomes Market, a triggered stop-limit Limit.
    pub ord_type: OrdType,
    pub tif: TimeInForce,
    pub stp_mode: StpMode,
    pub stp_key: u64,
    pub post_only: bool,
    pub price: Price,
    pub stop_price: Price,
    /// Total order quantity (FIX OrderQty).
    pub qty: Qty,
    pub filled: Qty,
    /// Open quantity, hidden included.
    pub leaves: Qty,
    /// Displayed open quantity.
    pub visible: Qty,
    /// Iceberg display size; zero when fully displayed.
    pub display: Qty,
    pub expire_time: TimestampNs,
    /// Acceptance counter: orders sort by it for mass cancel and expiry.
    pub accepted_no: u64,
    /// The level (limit or stop ladder) the order sits in, or NIL.
    pub level: u32,
    pub in_stop_book: bool,
    pub prev: u32,
    pub next: u32,
    pub account_prev: u32,
    pub account_next: u32,
    pub all_prev: u32,
    pub all_next: u32,
    pub strategy_prev: u32,
    pub strategy_next: u32,
    pub session_prev: u32,
    pub session_next: u32,
    pub client_ref: u64,
}

/// Intrusive doubly linked list ends.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct ListEnds {
    pub head: u32,
    pub tail: u32,
    /// Orders in the list: a kill whose list holds every live order takes the bulk path.
    pub len: u32,
}

impl Default for ListEnds {
    fn default() -> Self {
        ListEnds {
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }
}

/// Slots, free list, id index and the account / acceptance-order lists.
#[derive(Debug)]
pub(crate) struct Orders {
    pub slots: Vec<Slot>,
    free: Vec<u32>,
    /// Order id → slot (see `id_index.rs`), sized from the arena.
    index: IdIndex,
    pub accounts: Vec<ListEnds>,
    /// Per strategy and per session, in acceptance order: a kill switch of one strategy or
    /// session walks only its own orders.
    pub strategies: Vec<ListEnds>,
    pub sessions: Vec<ListEnds>,
    pub all: ListEnds,
    next_accepted_no: u64,
    live: u32,
}

impl Orders {
    pub fn with_capacity(
        orders_max: u32,
        accounts_max: u32,
        strategies_max: u32,
        sessions_max: u32,
    ) -> Self {
        let index = IdIndex::with_capacity(orders_max);
        Orders {
            slots: vec![Slot::default(); orders_max as usize],
            free: (0..orders_max).rev().collect(),
            index,
            accounts: vec![ListEnds::default(); accounts_max as usize],
            strategies: vec![ListEnds::default(); strategies_max as usize],
            sessions: vec![ListEnds::default(); sessions_max as usize],
            all: ListEnds::default(),
            next_accepted_no: 0,
            live: 0,
        }
    }

    #[inline]
    pub fn has_free_slot(&self) -> bool {
        !self.free.is_empty()
    }

    #[inline]
    pub fn live_count(&self) -> u32 {
        self.live
    }

    #[inline]
    pub fn lookup(&self, id: OrderId) -> Option<u32> {
        self.index.get(id.0)
    }

    /// Takes a slot, indexes it and links it at the tail of its account's, strategy's, session's
    /// and the global list. Strategy and session ids are in range (checked before).
    pub fn insert(&mut self, mut slot: Slot) -> u32 {
        let index = self.free.pop().expect("capacity checked before insert");
        slot.accepted_no = self.next_accepted_no;
        self.next_accepted_no += 1;
        slot.level = NIL;
        slot.prev = NIL;
        slot.next = NIL;
        let account = slot.account.0 as usize;
        slot.account_prev = self.accounts[account].tail;
        slot.account_next = NIL;
        slot.all_prev = self.all.tail;
        slot.all_next = NIL;
        let strategy = slot.strategy.0 as usize;
        let session = slot.session.0 as usize;
        slot.strategy_prev = self.strategies[strategy].tail;
        slot.strategy_next = NIL;
        slot.session_prev = self.sessions[session].tail;
        slot.session_next = NIL;
        let id = slot.id.0;
        self.slots[index as usize] = slot;
        match self.accounts[account].tail {
            NIL => self.accounts[account].head = index,
            tail => self.slots[tail as usize].account_next = index,
        }
        self.accounts[account].tail = index;
        self.accounts[account].len += 1;
        match self.all.tail {
            NIL => self.all.head = index,
            tail => self.slots[tail as usize].all_next = index,
        }
        self.all.tail = index;
        self.all.len += 1;
        match self.strategies[strategy].tail {
            NIL => self.strategies[strategy].head = index,
            tail => self.slots[tail as usize].strategy_next = index,
        }
        self.strategies[strategy].tail = index;
        self.strategies[strategy].len += 1;
        match self.sessions[session].tail {
            NIL => self.sessions[session].head = index,
            tail => self.slots[tail as usize].session_next = index,
        }
        self.sessions[session].tail = index;
        self.sessions[session].len += 1;
        self.index.insert(id, index);
        self.live += 1;
        index
    }

    /// Unindexes, unlinks from the account, strategy, session and global lists and frees the slot. The caller has
    /// already taken it out of its level.
    pub fn remove(&mut self, index: u32) {
        let slot = self.slots[index as usize];
        debug_assert_eq!(slot.level, NIL, "unlinked from its level first");
        let account = slot.account.0 as usize;
        match slot.account_prev {
            NIL => self.accounts[account].head = slot.account_next,
            prev => self.slots[prev as usize].account_next = slot.account_next,
        }
        match slot.account_next {
            NIL => self.accounts[account].tail = slot.account_prev,
            next => self.slots[next as usize].account_prev = slot.account_prev,
        }
        self.accounts[account].len -= 1;
        match slot.all_prev {
            NIL => self.all.head = slot.all_next,
            prev => self.slots[prev as usize].all_next = slot.all_next,
        }
        match slot.all_next {
            NIL => self.all.tail = slot.all_prev,
            next => self.slots[next as usize].all_prev = slot.all_prev,
        }
        self.all.len -= 1;
        let strategy = slot.strategy.0 as usize;
        match slot.strategy_prev {
            NIL => self.strategies[strategy].head = slot.strategy_next,
            prev => self.slots[prev as usize].strategy_next = slot.strategy_next,
        }
        match slot.strategy_next {
            NIL => self.strategies[strategy].tail = slot.strategy_prev,
            next => self.slots[next as usize].strategy_prev = slot.strategy_prev,
        }
        self.strategies[strategy].len -= 1;
        let session = slot.session.0 as usize;
        match slot.session_prev {
            NIL => self.sessions[session].head = slot.session_next,
            prev => self.slots[prev as usize].session_next = slot.session_next,
        }
        match slot.session_next {
            NIL => self.sessions[session].tail = slot.session_prev,
            next => self.slots[next as usize].session_prev = slot.session_prev,
        }
        self.sessions[session].len -= 1;
        let removed = self.index.remove(slot.id.0);
        debug_assert_eq!(removed, Some(index));
        self.free.push(index);
        self.live -= 1;
    }

    /// Frees every slot at once: the bulk end of a kill that covered every live order (the
    /// caller has reported each one). Slot contents are left as they are; nothing reads a free
    /// slot. Never allocates.
    pub fn remove_all(&mut self) {
        let capacity = u32::try_from(self.slots.len()).expect("arena fits u32");
        self.index.clear();
        self.free.clear();
        self.free.extend((0..capacity).rev());
        self.accounts.fill(ListEnds::default());
        self.strategies.fill(ListEnds::default());
        self.sessions.fill(ListEnds::default());
        self.all = ListEnds::default();
        self.live = 0;
    }

    #[inline]
    pub fn get(&self, index: u32) -> &Slot {
        &self.slots[index as usize]
    }

    #[inline]
    pub fn get_mut(&mut self, index: u32) -> &mut Slot {
        &mut self.slots[index as usize]
    }
}

/// A read-only view of a live order, for status requests and tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrderView {
    /// Engine order id.
    pub id: OrderId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Owner account.
    pub account: AccountId,
    /// Strategy.
    pub strategy: StrategyId,
    /// Source session.
    pub session: SessionId,
    /// Side.
    pub side: Side,
    /// Current order type.
    pub ord_type: OrdType,
    /// Time in force.
    pub tif: TimeInForce,
    /// Limit price.
    pub price: Price,
    /// Stop price.
    pub stop_price: Price,
    /// Total quantity.
    pub qty: Qty,
    /// Filled quantity.
    pub filled: Qty,
    /// Open quantity.
    pub leaves: Qty,
    /// Displayed quantity.
    pub visible: Qty,
    /// Whether it waits in the stop book.
    pub untriggered_stop: bool,
}

impl From<&Slot> for OrderView {
    fn from(slot: &Slot) -> Self {
        OrderView {
            id: slot.id,
            instrument: slot.instrument,
            account: slot.account,
            strategy: slot.strategy,
            session: slot.session,
            side: slot.side,
            ord_type: slot.ord_type,
            tif: slot.tif,
            price: slot.price,
            stop_price: slot.stop_price,
            qty: slot.qty,
            filled: slot.filled,
            leaves: slot.leaves,
            visible: slot.visible,
            untriggered_stop: slot.in_stop_book,
        }
    }
}

/// The serialized form of [`Orders`]: live slots, and free slots the caller still refers to
/// (expiry entries of dead orders are recognised by the slot's stale contents); the free
/// list in its order (slot reuse is part of the state), the list ends and counters. The id
/// index is rebuilt from the live slots.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct OrdersImage {
    capacity: u32,
    kept_slots: Vec<(u32, Slot)>,
    free: Vec<u32>,
    accounts: Vec<ListEnds>,
    strategies: Vec<ListEnds>,
    sessions: Vec<ListEnds>,
    all: ListEnds,
    next_accepted_no: u64,
    live: u32,
}

impl Orders {
    /// The state to serialize; `referenced` are slots whose contents must be kept even when
    /// free.
    pub(crate) fn image(&self, referenced: impl Iterator<Item = u32>) -> OrdersImage {
        let mut keep = vec![true; self.slots.len()];
        for &index in &self.free {
            keep[index as usize] = false;
        }
        for index in referenced {
            keep[index as usize] = true;
        }
        let kept_slots = self
            .slots
            .iter()
            .enumerate()
            .filter(|(index, _)| keep[*index])
            .map(|(index, slot)| (index as u32, *slot))
            .collect();
        OrdersImage {
            capacity: u32::try_from(self.slots.len()).expect("arena fits u32"),
            kept_slots,
            free: self.free.clone(),
            accounts: self.accounts.clone(),
            strategies: self.strategies.clone(),
            sessions: self.sessions.clone(),
            all: self.all,
            next_accepted_no: self.next_accepted_no,
            live: self.live,
        }
    }

    /// Loads an image into this freshly built arena (same capacities), keeping every
    /// preallocated table's capacity.
    pub(crate) fn restore(&mut self, image: OrdersImage) -> Result<(), String> {
        let capacity = self.slots.len();
        if image.capacity as usize != capacity
            || image.accounts.len() != self.accounts.len()
            || image.strategies.len() != self.strategies.len()
            || image.sessions.len() != self.sessions.len()
        {
            return Err("order arena capacities differ".to_owned());
        }
        if image.free.len() + image.live as usize != capacity {
            return Err("order arena image is inconsistent".to_owned());
        }
        let mut is_free = vec![false; capacity];
        self.free.clear();
        for &index in &image.free {
            if index as usize >= capacity || is_free[index as usize] {
                return Err("free slot out of range or duplicated".to_owned());
            }
            is_free[index as usize] = true;
            self.free.push(index);
        }
        self.index.clear();
        let mut live = 0;
        for &(index, slot) in &image.kept_slots {
            if index as usize >= capacity {
                return Err("slot out of range".to_owned());
            }
            self.slots[index as usize] = slot;
            if !is_free[index as usize] {
                if self.index.get(slot.id.0).is_some() {
                    return Err("order id duplicated".to_owned());
                }
                self.index.insert(slot.id.0, index);
                live += 1;
            }
        }
        if live != image.live {
            return Err("live slot count differs".to_owned());
        }
        self.accounts.copy_from_slice(&image.accounts);
        self.strategies.copy_from_slice(&image.strategies);
        self.sessions.copy_from_slice(&image.sessions);
        self.all = image.all;
        self.next_accepted_no = image.next_accepted_no;
        self.live = image.live;
        Ok(())
    }
}
