// Package eventbus implements domain.Bus: an in-process bus for the embedded
// default (NewInProcess) and a Redis pub/sub bus for deployments that run
// several API servers (NewRedis).
//
// The database is the source of truth; the bus only wakes subscribers. Every
// Message carries its TenantID and Seq (the position in the tenant's gapless
// custody log), so a subscriber keeps the last Seq it handled as its cursor,
// replays from the database what lies after it, and then follows the bus,
// skipping any Seq it has already seen.
//
// Delivery contract, the same for both buses:
//   - A subscription receives only its own tenant's messages.
//   - Publish never waits for a subscriber. Each subscription has a bounded
//     buffer (WithBuffer); a subscription whose buffer is full when a message
//     arrives is dropped: its channel is closed, the bus's Dropped counter grows
//     and a warning is logged.
//   - A closed channel therefore means "you may have missed messages": the
//     subscriber resubscribes and replays from the database by its cursor. The
//     same happens when the subscriber's cancel func is called, its context
//     ends, or the bus is closed.
//
// The Redis bus multiplexes every tenant of the process over one pub/sub
// connection (one Redis channel per tenant, subscribed while at least one local
// subscriber of that tenant exists). go-redis reconnects and resubscribes on
// its own, but Redis pub/sub is fire-and-forget: messages published while the
// connection was down are lost from the bus, though never from the database.
// The bus therefore closes the subscriptions of every tenant channel that had
// to be resubscribed, so their owners replay what they missed.
package eventbus
