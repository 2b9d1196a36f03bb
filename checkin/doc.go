// Package checkin records what devices tell the server when they poll
// GET /update, and keeps the per-device summaries and rollout halts that
// are derived from those check-ins.
//
// Five things live here:
//
//   - the records: [CheckIn] (one request as answered), [Device] (the
//     persistent summary the outcome tracker keeps) and [Halt] (a release
//     that was stopped, or whose outcome counts start again);
//   - [Tracker], which turns check-ins into update outcomes and per-stage
//     counts, and halts a release when rollout.HaltVerdict says its counts
//     do, judging the release as the snapshot the check-in was decided
//     from has it. It also pages through devices without copying them
//     ([Tracker.Page], [Tracker.Index], [Tracker.Match]), keeps the
//     hourly series of the versions devices run ([Tracker.Adoption]),
//     and gives the decision a device would get now ([DecideNow]);
//   - [Store], the storage contract, with two implementations: [Bolt], a
//     bbolt file for a single server, and [Memory], for tests and setups
//     that keep nothing across restarts. A PostgreSQL store for several
//     replicas can be added behind the same interface; [AdoptionStore]
//     is the optional part that keeps the adoption series;
//   - [Writer], which takes check-ins on the request path without blocking
//     and saves them in batches from one goroutine, so that recording costs
//     a device request almost nothing and no acknowledged record is lost on
//     a clean shutdown;
//   - [Journal], the replica's memory-mapped record of what the Writer
//     acknowledged and the store has not yet committed, replayed into the
//     store at start, so that no acknowledged record is lost when the
//     process is killed either.
//
// Times are stored with nanosecond precision and come back in UTC, without
// a monotonic clock reading, from every Store.
package checkin
